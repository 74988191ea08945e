package vae

import (
	"fmt"
	"image"
	"image/color"
	"math"

	"gorgonia.org/tensor"
)

// FromImages converts same-sized images to a float32 tensor [B, 3, H, W] in [-1, 1]:
// each 8-bit channel value v becomes v/127.5 - 1, computed in float64 and rounded once
// to float32, exactly as Custom Diffusion's data pipeline does
// (`(np.array(image) / 127.5 - 1.0).astype(np.float32)`). (diffusers'
// VaeImageProcessor computes 2·(v/255) - 1 in float32 instead, which is one ulp off for
// half the values; nothing in this project encodes through it.)
//
// Colours are read non-premultiplied and alpha is dropped, as PIL's convert("RGB")
// does; resizing and cropping are the caller's.
func FromImages(imgs ...image.Image) (*tensor.Dense, error) {
	if len(imgs) == 0 {
		return nil, fmt.Errorf("vae: no images to convert")
	}
	var w, h int
	for i, img := range imgs {
		if img == nil {
			return nil, fmt.Errorf("vae: image %d is nil", i)
		}
		r := img.Bounds()
		if i == 0 {
			w, h = r.Dx(), r.Dy()
			if w <= 0 || h <= 0 {
				return nil, fmt.Errorf("vae: image 0 is empty (%dx%d)", w, h)
			}
		} else if r.Dx() != w || r.Dy() != h {
			return nil, fmt.Errorf("vae: image %d is %dx%d, image 0 is %dx%d; a batch needs one size", i, r.Dx(), r.Dy(), w, h)
		}
	}
	plane := w * h
	data := make([]float32, len(imgs)*3*plane)
	for i, img := range imgs {
		out := data[i*3*plane : (i+1)*3*plane]
		r := img.Bounds()
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				c := nrgbaAt(img, r.Min.X+x, r.Min.Y+y)
				at := y*w + x
				out[at] = normalize(c.R)
				out[plane+at] = normalize(c.G)
				out[2*plane+at] = normalize(c.B)
			}
		}
	}
	return tensor.New(tensor.WithShape(len(imgs), 3, h, w), tensor.WithBacking(data)), nil
}

// nrgbaAt reads one pixel as non-premultiplied 8-bit RGBA, directly for the common
// decoded formats and through the colour model otherwise.
func nrgbaAt(img image.Image, x, y int) color.NRGBA {
	switch m := img.(type) {
	case *image.NRGBA:
		return m.NRGBAAt(x, y)
	case *image.RGBA:
		if c := m.RGBAAt(x, y); c.A == 0xff {
			return color.NRGBA{R: c.R, G: c.G, B: c.B, A: c.A}
		}
	}
	return color.NRGBAModel.Convert(img.At(x, y)).(color.NRGBA)
}

func normalize(v uint8) float32 { return float32(float64(v)/127.5 - 1) }

// ToImages converts images [B, 3, H, W] in [-1, 1] (float32 or float64) to opaque RGBA
// images with diffusers' postprocessing: clamp(x/2 + 0.5, 0, 1), times 255, rounded half
// to even (numpy's round), each step rounded to the tensor's precision as torch and
// numpy do. NaN becomes 0.
func ToImages(x *tensor.Dense) ([]*image.RGBA, error) {
	s := x.Shape()
	if len(s) != 4 || s[1] != 3 || s[0] <= 0 || s[2] <= 0 || s[3] <= 0 {
		return nil, fmt.Errorf("vae: image tensor has shape %v, want [B, 3, H, W]", []int(s))
	}
	if x.IsView() {
		x = x.Materialize().(*tensor.Dense)
	}
	switch d := x.Data().(type) {
	case []float32:
		return toImages(d, s[0], s[2], s[3]), nil
	case []float64:
		return toImages(d, s[0], s[2], s[3]), nil
	}
	return nil, fmt.Errorf("vae: image tensor is %v, want float32 or float64", x.Dtype())
}

func toImages[T float32 | float64](d []T, bs, h, w int) []*image.RGBA {
	plane := h * w
	out := make([]*image.RGBA, bs)
	for bi := range out {
		img := image.NewRGBA(image.Rect(0, 0, w, h))
		src := d[bi*3*plane : (bi+1)*3*plane]
		for at := 0; at < plane; at++ {
			p := img.Pix[4*at : 4*at+4]
			p[0] = toByte(src[at])
			p[1] = toByte(src[plane+at])
			p[2] = toByte(src[2*plane+at])
			p[3] = 0xff
		}
		out[bi] = img
	}
	return out
}

// toByte is one channel of diffusers' postprocess. The explicit conversions keep Go
// from fusing the steps into one rounding.
func toByte[T float32 | float64](x T) uint8 {
	v := T(x/2) + 0.5
	if !(v > 0) { // also NaN
		return 0
	}
	if v >= 1 {
		return 0xff
	}
	return uint8(math.RoundToEven(float64(T(v * 255))))
}
