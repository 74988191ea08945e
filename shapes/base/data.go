package base

import (
	"fmt"
	"image"
	"math/rand/v2"

	"gorgonia.org/tensor"

	"github.com/latexblend/latexblend/model/vae"
	"github.com/latexblend/latexblend/shapes"
)

// renderBatch renders n base-distribution scenes from the stream of seed and returns
// them as VAE input [n, 3, ImageSize, ImageSize] in [-1, 1] with their captions.
func renderBatch(seed uint64, n int) (*tensor.Dense, []string, error) {
	samples, err := shapes.Dataset(seed, n, ImageSize)
	if err != nil {
		return nil, nil, fmt.Errorf("rendering %d scenes of seed %d: %w", n, seed, err)
	}
	return imagesOf(samples)
}

// imagesOf converts samples to VAE input with their captions.
func imagesOf(samples []shapes.Sample) (*tensor.Dense, []string, error) {
	imgs := make([]image.Image, len(samples))
	caps := make([]string, len(samples))
	for i, s := range samples {
		imgs[i] = s.Image
		caps[i] = s.Caption
	}
	x, err := vae.FromImages(imgs...)
	if err != nil {
		return nil, nil, err
	}
	return x, caps, nil
}

// normals returns n standard normal float32 values from rng.
func normals(rng *rand.Rand, n int) []float32 {
	out := make([]float32, n)
	for i := range out {
		out[i] = float32(rng.NormFloat64())
	}
	return out
}

// dense wraps float32 values (not copied) as a tensor.
func dense(v []float32, shape ...int) *tensor.Dense {
	return tensor.New(tensor.WithShape(shape...), tensor.WithBacking(v))
}

// cropBatch cuts a random size×size window out of every image of x [B, C, H, W], at
// offsets that are multiples of align (the VAE's downsampling factor, so a crop's latent
// grid lines up with the whole image's). size equal to the image side returns x.
func cropBatch(rng *rand.Rand, x *tensor.Dense, size, align int) (*tensor.Dense, error) {
	s := x.Shape()
	b, c, h, w := s[0], s[1], s[2], s[3]
	if size == h && size == w {
		return x, nil
	}
	if size <= 0 || size > h || size > w || size%align != 0 {
		return nil, fmt.Errorf("crop %d of %d×%d images: want a multiple of %d no larger than the image", size, h, w, align)
	}
	src := x.Data().([]float32)
	out := make([]float32, 0, b*c*size*size)
	for i := range b {
		oy := align * rng.IntN((h-size)/align+1)
		ox := align * rng.IntN((w-size)/align+1)
		for ch := range c {
			plane := src[(i*c+ch)*h*w:]
			for y := oy; y < oy+size; y++ {
				out = append(out, plane[y*w+ox:y*w+ox+size]...)
			}
		}
	}
	return dense(out, b, c, size, size), nil
}
