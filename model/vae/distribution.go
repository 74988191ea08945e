package vae

import (
	"fmt"
	"math"

	"gorgonia.org/tensor"
)

// Log-variance bounds of diffusers' DiagonalGaussianDistribution.
const (
	minLogVar = -30
	maxLogVar = 20
)

// Distribution is the encoder's diagonal Gaussian over latents (diffusers'
// DiagonalGaussianDistribution): Mean, LogVar (clamped to [-30, 20]) and
// Std = exp(LogVar/2), each [B, latent_channels, h, w].
type Distribution struct {
	Mean, LogVar, Std *tensor.Dense
}

// newDistribution splits moments [B, 2C, h, w] into mean (channels [0, C)) and
// log-variance (channels [C, 2C)).
func newDistribution(moments *tensor.Dense) (*Distribution, error) {
	s := moments.Shape()
	if len(s) != 4 || s[1]%2 != 0 {
		return nil, fmt.Errorf("vae: moments have shape %v, want [B, 2·latent, h, w]", []int(s))
	}
	bs, c, sp := s[0], s[1]/2, s[2]*s[3]
	out := tensor.Shape{bs, c, s[2], s[3]}
	d := &Distribution{}
	switch src := moments.Data().(type) {
	case []float32:
		mean, logvar, std := make([]float32, bs*c*sp), make([]float32, bs*c*sp), make([]float32, bs*c*sp)
		splitMoments(src, mean, logvar, std, bs, c, sp)
		d.Mean = tensor.New(tensor.WithShape(out...), tensor.WithBacking(mean))
		d.LogVar = tensor.New(tensor.WithShape(out...), tensor.WithBacking(logvar))
		d.Std = tensor.New(tensor.WithShape(out...), tensor.WithBacking(std))
	case []float64:
		mean, logvar, std := make([]float64, bs*c*sp), make([]float64, bs*c*sp), make([]float64, bs*c*sp)
		splitMoments(src, mean, logvar, std, bs, c, sp)
		d.Mean = tensor.New(tensor.WithShape(out...), tensor.WithBacking(mean))
		d.LogVar = tensor.New(tensor.WithShape(out...), tensor.WithBacking(logvar))
		d.Std = tensor.New(tensor.WithShape(out...), tensor.WithBacking(std))
	default:
		return nil, fmt.Errorf("vae: moments are %v, want float32 or float64", moments.Dtype())
	}
	return d, nil
}

func splitMoments[T float32 | float64](src, mean, logvar, std []T, bs, c, sp int) {
	n := c * sp
	for bi := 0; bi < bs; bi++ {
		copy(mean[bi*n:(bi+1)*n], src[2*bi*n:(2*bi+1)*n])
		lv := logvar[bi*n : (bi+1)*n]
		copy(lv, src[(2*bi+1)*n:(2*bi+2)*n])
		for i, v := range lv {
			v = min(max(v, minLogVar), maxLogVar)
			lv[i] = v
			// The conversion rounds once, like torch's float32 exp.
			std[bi*n+i] = T(math.Exp(float64(v / 2)))
		}
	}
}

// Mode is the distribution's most likely latent, its mean (a copy).
func (d *Distribution) Mode() *tensor.Dense { return d.Mean.Clone().(*tensor.Dense) }

// Sample returns Mean + Std·noise for standard-normal noise of the mean's shape and
// dtype, supplied by the caller so that sampling is reproducible (diffusers draws it
// from a torch generator, which we do not reproduce).
func (d *Distribution) Sample(noise *tensor.Dense) (*tensor.Dense, error) {
	if !noise.Shape().Eq(d.Mean.Shape()) || noise.Dtype() != d.Mean.Dtype() {
		return nil, fmt.Errorf("vae: sample noise is %v %v, want %v %v", noise.Dtype(), []int(noise.Shape()), d.Mean.Dtype(), []int(d.Mean.Shape()))
	}
	if noise.IsView() {
		noise = noise.Materialize().(*tensor.Dense)
	}
	out := tensor.New(tensor.Of(d.Mean.Dtype()), tensor.WithShape(d.Mean.Shape().Clone()...))
	switch o := out.Data().(type) {
	case []float32:
		sampleInto(o, d.Mean.Data().([]float32), d.Std.Data().([]float32), noise.Data().([]float32))
	case []float64:
		sampleInto(o, d.Mean.Data().([]float64), d.Std.Data().([]float64), noise.Data().([]float64))
	}
	return out, nil
}

func sampleInto[T float32 | float64](out, mean, std, noise []T) {
	for i := range out {
		// Two roundings, as torch computes mean + std * noise (no fused multiply-add).
		out[i] = mean[i] + T(std[i]*noise[i])
	}
}
