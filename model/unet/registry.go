package unet

import (
	"github.com/latexblend/latexblend/model/diffusers"
	"github.com/latexblend/latexblend/nn"
)

// registry hands out parameters while the modules are constructed. With a store it
// allocates them there; without one it only records names and shapes, which is how
// Specs lists the SDXL UNet's 2.57 G values without allocating 10 GB.
type registry struct {
	ps    *nn.Params
	specs []diffusers.ParamSpec
}

func (r *registry) param(name string, shape ...int) *nn.Param {
	r.specs = append(r.specs, diffusers.ParamSpec{Name: name, Shape: append([]int(nil), shape...)})
	if r.ps == nil {
		return &nn.Param{Name: name}
	}
	return r.ps.New(name, shape...)
}

func (r *registry) linear(name string, in, out int, bias bool) *nn.Linear {
	l := &nn.Linear{Name: name, Weight: r.param(nn.Join(name, "weight"), out, in)}
	if bias {
		l.Bias = r.param(nn.Join(name, "bias"), out)
	}
	return l
}

// conv registers a biased square-kernel convolution (every UNet conv has a bias).
func (r *registry) conv(name string, in, out, kernel int, opts nn.Conv2dOptions) *nn.Conv2d {
	return &nn.Conv2d{
		Name:    name,
		Weight:  r.param(nn.Join(name, "weight"), out, in, kernel, kernel),
		Bias:    r.param(nn.Join(name, "bias"), out),
		Options: opts,
	}
}

func (r *registry) groupNorm(name string, groups, channels int, eps float64) *nn.GroupNorm {
	return &nn.GroupNorm{
		Name:   name,
		Weight: r.param(nn.Join(name, "weight"), channels),
		Bias:   r.param(nn.Join(name, "bias"), channels),
		Groups: groups,
		Eps:    eps,
	}
}

func (r *registry) layerNorm(name string, dim int, eps float64) *nn.LayerNorm {
	return &nn.LayerNorm{
		Name:   name,
		Weight: r.param(nn.Join(name, "weight"), dim),
		Bias:   r.param(nn.Join(name, "bias"), dim),
		Eps:    eps,
	}
}
