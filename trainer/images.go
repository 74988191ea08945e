package trainer

import (
	"bytes"
	"fmt"
	"image"
	_ "image/jpeg" // decoders for instance and regularization images
	_ "image/png"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// MinImageSide is the smallest width or height an input image may have; smaller
// images carry too little of the concept to train on.
const MinImageSide = 64

// Image is one decoded training image with its optional caption.
type Image struct {
	Name    string
	Caption string
	Img     image.Image
}

// DecodeImage decodes PNG or JPEG bytes; name is used in errors.
func DecodeImage(name string, data []byte) (image.Image, error) {
	img, _, err := image.Decode(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("image %s: %w", name, err)
	}
	if r := img.Bounds(); r.Dx() < MinImageSide || r.Dy() < MinImageSide {
		return nil, fmt.Errorf("image %s is %dx%d; images must be at least %dx%d", name, r.Dx(), r.Dy(), MinImageSide, MinImageSide)
	}
	return img, nil
}

// readImageFile decodes one file.
func readImageFile(path string) (image.Image, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("image %s: %w", path, err)
	}
	return DecodeImage(path, data)
}

// isImageFile reports whether a file name has a PNG or JPEG extension.
func isImageFile(name string) bool {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".png", ".jpg", ".jpeg":
		return true
	}
	return false
}

// ReadImageDir reads every PNG/JPEG file of dir (sorted by name), each with the
// caption of a same-name .txt file when there is one.
func ReadImageDir(dir string) ([]Image, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("image folder: %w", err)
	}
	var names []string
	for _, e := range ents {
		if !e.IsDir() && isImageFile(e.Name()) {
			names = append(names, e.Name())
		}
	}
	slices.Sort(names)
	if len(names) == 0 {
		return nil, fmt.Errorf("image folder %s holds no .png or .jpg images", dir)
	}
	var out []Image
	for _, n := range names {
		path := filepath.Join(dir, n)
		img, err := readImageFile(path)
		if err != nil {
			return nil, err
		}
		it := Image{Name: path, Img: img}
		txt := strings.TrimSuffix(path, filepath.Ext(path)) + ".txt"
		if b, err := os.ReadFile(txt); err == nil {
			it.Caption = strings.TrimSpace(string(b))
		}
		out = append(out, it)
	}
	return out, nil
}

// ReadRegDir reads regularization images: the reference's layout (images.txt with one
// image path per line, relative paths taken from dir, and caption.txt with the
// matching captions) when images.txt exists, otherwise a plain image folder with
// optional same-name .txt captions.
func ReadRegDir(dir string) ([]Image, error) {
	list := filepath.Join(dir, "images.txt")
	data, err := os.ReadFile(list)
	if os.IsNotExist(err) {
		return ReadImageDir(dir)
	}
	if err != nil {
		return nil, fmt.Errorf("regularization data: %w", err)
	}
	paths := nonEmptyLines(string(data))
	if len(paths) == 0 {
		return nil, fmt.Errorf("regularization data: %s lists no images", list)
	}
	var captions []string
	if c, err := os.ReadFile(filepath.Join(dir, "caption.txt")); err == nil {
		captions = nonEmptyLines(string(c))
		if len(captions) != len(paths) {
			return nil, fmt.Errorf("regularization data: %s has %d captions for the %d images of %s", filepath.Join(dir, "caption.txt"), len(captions), len(paths), list)
		}
	}
	var out []Image
	for i, p := range paths {
		if !filepath.IsAbs(p) {
			p = filepath.Join(dir, p)
		}
		img, err := readImageFile(p)
		if err != nil {
			return nil, fmt.Errorf("regularization data (%s line %d): %w", list, i+1, err)
		}
		it := Image{Name: p, Img: img}
		if captions != nil {
			it.Caption = captions[i]
		}
		out = append(out, it)
	}
	return out, nil
}

func nonEmptyLines(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}
