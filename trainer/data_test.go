package trainer

import (
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeTestImages writes n smooth random RGB images of w×h into dir as PNG.
func writeTestImages(t *testing.T, dir string, n, w, h int, seed uint64) []string {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 7))
	var paths []string
	for i := range n {
		img := image.NewRGBA(image.Rect(0, 0, w, h))
		r0, g0, b0 := rng.IntN(200), rng.IntN(200), rng.IntN(200)
		for y := range h {
			for x := range w {
				img.Set(x, y, color.RGBA{uint8(r0 + x*50/w), uint8(g0 + y*50/h), uint8(b0 + (x+y)%40), 255})
			}
		}
		p := filepath.Join(dir, "img"+string(rune('a'+i))+".png")
		f, err := os.Create(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := png.Encode(f, img); err != nil {
			t.Fatal(err)
		}
		f.Close()
		paths = append(paths, p)
	}
	return paths
}

func TestReadImageDirAndCaptions(t *testing.T) {
	dir := t.TempDir()
	paths := writeTestImages(t, dir, 2, 70, 64, 1)
	os.WriteFile(strings.TrimSuffix(paths[1], ".png")+".txt", []byte(" a dog on grass \n"), 0o644)
	imgs, err := ReadImageDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(imgs) != 2 || imgs[0].Caption != "" || imgs[1].Caption != "a dog on grass" {
		t.Fatalf("images %d, captions %q %q", len(imgs), imgs[0].Caption, imgs[1].Caption)
	}
	if b := imgs[0].Img.Bounds(); b.Dx() != 70 || b.Dy() != 64 {
		t.Errorf("decoded %v", b)
	}
}

func TestReadJPEG(t *testing.T) {
	dir := t.TempDir()
	img := image.NewRGBA(image.Rect(0, 0, 64, 96))
	for i := range img.Pix {
		img.Pix[i] = uint8(i)
	}
	f, err := os.Create(filepath.Join(dir, "photo.JPG"))
	if err != nil {
		t.Fatal(err)
	}
	if err := jpeg.Encode(f, img, nil); err != nil {
		t.Fatal(err)
	}
	f.Close()
	imgs, err := ReadImageDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(imgs) != 1 || imgs[0].Img.Bounds().Dx() != 64 || imgs[0].Img.Bounds().Dy() != 96 {
		t.Fatalf("read %d images", len(imgs))
	}
}

func TestReadRegReferenceLayout(t *testing.T) {
	dir := t.TempDir()
	sub := filepath.Join(dir, "imgs")
	os.Mkdir(sub, 0o755)
	writeTestImages(t, sub, 2, 64, 80, 2)
	os.WriteFile(filepath.Join(dir, "images.txt"), []byte("imgs/imga.png\nimgs/imgb.png\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "caption.txt"), []byte("a far away dog\nzoomed in dog\n"), 0o644)
	imgs, err := ReadRegDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(imgs) != 2 || imgs[1].Caption != "zoomed in dog" {
		t.Fatalf("got %d images, captions %+v", len(imgs), imgs)
	}
	os.WriteFile(filepath.Join(dir, "caption.txt"), []byte("only one\n"), 0o644)
	if _, err := ReadRegDir(dir); err == nil || !strings.Contains(err.Error(), "caption.txt") {
		t.Errorf("caption count mismatch: %v", err)
	}
}

func TestBadImagesNameTheFile(t *testing.T) {
	for _, tc := range []struct {
		name string
		make func(dir string) string
		want string
	}{
		{"unreadable", func(dir string) string {
			p := filepath.Join(dir, "broken.png")
			os.WriteFile(p, []byte("not a png"), 0o644)
			return p
		}, "broken.png"},
		{"tiny", func(dir string) string {
			writeTestImages(t, dir, 1, 20, 20, 3)
			return filepath.Join(dir, "imga.png")
		}, "imga.png is 20x20"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			tc.make(dir)
			_, err := ReadImageDir(dir)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want it to name %q", err, tc.want)
			}
		})
	}
	if _, err := ReadImageDir(t.TempDir()); err == nil || !strings.Contains(err.Error(), "no .png") {
		t.Errorf("empty folder: %v", err)
	}
}

func TestAugmentMaskMatchesPastedRegion(t *testing.T) {
	src := &rgbImage{w: 80, h: 80, pix: make([]uint8, 3*80*80)}
	for i := range src.pix {
		src.pix[i] = 200
	}
	const size, factor = 64, 2
	dst := make([]float32, 3*size*size)
	mask := make([]float32, (size/factor)*(size/factor))
	sawSmall, sawLarge := false, false
	for seed := range uint64(60) {
		rng := rand.New(rand.NewPCG(seed, 1))
		augmentInstance(rng, src, size, factor, true, true, dst, mask)
		var ones int
		for _, m := range mask {
			ones += int(m)
		}
		var painted int
		for _, v := range dst[:size*size] {
			if v != 0 {
				painted++
			}
		}
		if painted == size*size {
			sawLarge = true
			if ones != len(mask) {
				t.Errorf("seed %d: cropped image but mask has %d of %d ones", seed, ones, len(mask))
			}
			continue
		}
		sawSmall = true
		// The mask is the pasted square shrunk by one latent pixel per border.
		side := 0
		for s := 2; s*s <= painted; s += 2 {
			if s*s == painted {
				side = s
			}
		}
		if float64(side) >= 0.6*size {
			t.Errorf("seed %d: pasted a %d-pixel square; the reference pastes only below 0.6·size", seed, side)
		}
		if side == 0 {
			t.Fatalf("seed %d: pasted region of %d pixels is not an even square", seed, painted)
		}
		if ones > (side/factor)*(side/factor) || ones == 0 && side > 3*factor {
			t.Errorf("seed %d: %d mask ones for a %d-pixel square", seed, ones, side)
		}
	}
	if !sawSmall || !sawLarge {
		t.Errorf("augmentation never produced both kinds (small %v, large %v)", sawSmall, sawLarge)
	}
}

func TestResizeKeepsFlatColour(t *testing.T) {
	src := &rgbImage{w: 90, h: 70, pix: make([]uint8, 3*90*70)}
	for i := range src.pix {
		src.pix[i] = uint8(10 + i%3*100)
	}
	for _, sz := range [][2]int{{32, 32}, {128, 100}, {45, 35}} {
		out := src.resize(sz[0], sz[1])
		for i, v := range out.pix {
			if v != uint8(10+i%3*100) {
				t.Fatalf("resize to %v changed a flat colour: pixel byte %d = %d", sz, i, v)
			}
		}
	}
	if c := src.resizeShorter(32); c.w != 41 || c.h != 32 {
		t.Errorf("resize of 90x70 to shorter side 32 gave %dx%d", c.w, c.h)
	}
}
