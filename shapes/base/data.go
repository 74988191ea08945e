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
