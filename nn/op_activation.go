package nn

import (
	"fmt"
	"math"

	G "gorgonia.org/gorgonia"
)

// activation is an elementwise nonlinearity with its derivative, written against a
// mathFuncs so that float32 kernels use the fast float32-accurate exp and erf and
// float64 kernels (finite-difference checks) the exact ones.
type activation struct {
	name string
	f    func(m mathFuncs, x float64) float64
	df   func(m mathFuncs, x float64) float64
	// f32 and df32 are the same functions as whole-slice float32 loops
	// (fastmath_batch.go), which the float32 kernels use: per-element calls through f
	// and df cost several times the arithmetic.
	f32  func(x, out []float32)
	df32 func(x, dy, out []float32)
}

// mathFuncs are the transcendental functions an activation uses.
type mathFuncs struct{ exp, erf func(float64) float64 }

var (
	exactMath = mathFuncs{exp: math.Exp, erf: math.Erf}
	fastMath  = mathFuncs{exp: expf, erf: erff}
)

// mathFor returns the functions for element type T.
func mathFor[T float]() mathFuncs {
	var z T
	if _, ok := any(z).(float32); ok {
		return fastMath
	}
	return exactMath
}

// expFor returns the exp function for element type T.
func expFor[T float]() func(float64) float64 { return mathFor[T]().exp }

func init() {
	geluErf.f32, geluErf.df32 = geluActivation32()
	quickGELU.f32, quickGELU.df32 = sigmoidActivation32(1.702)
	silu.f32, silu.df32 = sigmoidActivation32(1)
}

var (
	// geluErf is the exact GELU 0.5·x·(1+erf(x/√2)) used by SDXL's GEGLU and CLIP-bigG.
	geluErf = activation{
		name: "GELU",
		f:    func(m mathFuncs, x float64) float64 { return 0.5 * x * (1 + m.erf(x/math.Sqrt2)) },
		df: func(m mathFuncs, x float64) float64 {
			return 0.5*(1+m.erf(x/math.Sqrt2)) + x*m.exp(-0.5*x*x)/math.Sqrt(2*math.Pi)
		},
	}
	// quickGELU is x·σ(1.702x), CLIP-L's activation.
	quickGELU = activation{
		name: "QuickGELU",
		f:    func(m mathFuncs, x float64) float64 { return x * sigmoid(m, 1.702*x) },
		df: func(m mathFuncs, x float64) float64 {
			s := sigmoid(m, 1.702*x)
			return s + 1.702*x*s*(1-s)
		},
	}
	// silu is x·σ(x).
	silu = activation{
		name: "SiLU",
		f:    func(m mathFuncs, x float64) float64 { return x * sigmoid(m, x) },
		df: func(m mathFuncs, x float64) float64 {
			s := sigmoid(m, x)
			return s + x*s*(1-s)
		},
	}
)

func sigmoid(m mathFuncs, x float64) float64 {
	if x >= 0 {
		return 1 / (1 + m.exp(-x))
	}
	e := m.exp(x)
	return e / (1 + e)
}

// GELU is the exact (erf) GELU.
func (b *Builder) GELU(x *G.Node) (*G.Node, error) { return b.activate(geluErf, x) }

// QuickGELU is x·sigmoid(1.702·x).
func (b *Builder) QuickGELU(x *G.Node) (*G.Node, error) { return b.activate(quickGELU, x) }

// SiLU is x·sigmoid(x).
func (b *Builder) SiLU(x *G.Node) (*G.Node, error) { return b.activate(silu, x) }

// Activation applies an activation by its config name: "gelu", "quick_gelu", "silu"/"swish".
func (b *Builder) Activation(name string, x *G.Node) (*G.Node, error) {
	switch name {
	case "gelu":
		return b.GELU(x)
	case "quick_gelu":
		return b.QuickGELU(x)
	case "silu", "swish":
		return b.SiLU(x)
	}
	return nil, fmt.Errorf("nn: unknown activation %q (want gelu, quick_gelu or silu)", name)
}

func (b *Builder) activate(a activation, x *G.Node) (*G.Node, error) {
	grad := func(in G.Nodes, _, dy *G.Node) (G.Nodes, error) {
		dx, err := backwardOp(a.name+"Grad", kernel{actGradKernel[float32](a), actGradKernel[float64](a)}, x.Shape(), in[0], dy)
		return G.Nodes{dx}, err
	}
	return apply(a.name, kernel{actKernel[float32](a), actKernel[float64](a)}, x.Shape(), b.diffs(x), grad, x)
}

func actKernel[T float](a activation) func(in [][]T, out []T) error {
	return func(in [][]T, out []T) error {
		x := in[0]
		if x32, ok := any(x).([]float32); ok && a.f32 != nil {
			out32 := any(out).([]float32)
			parallelFor(len(x), 16, func(lo, hi int) { a.f32(x32[lo:hi], out32[lo:hi]) })
			return nil
		}
		m := mathFor[T]()
		parallelFor(len(x), 16, func(lo, hi int) {
			for i := lo; i < hi; i++ {
				out[i] = T(a.f(m, float64(x[i])))
			}
		})
		return nil
	}
}

func actGradKernel[T float](a activation) func(in [][]T, out []T) error {
	return func(in [][]T, out []T) error {
		x, dy := in[0], in[1]
		if x32, ok := any(x).([]float32); ok && a.df32 != nil {
			dy32, out32 := any(dy).([]float32), any(out).([]float32)
			parallelFor(len(x), 16, func(lo, hi int) { a.df32(x32[lo:hi], dy32[lo:hi], out32[lo:hi]) })
			return nil
		}
		m := mathFor[T]()
		parallelFor(len(x), 16, func(lo, hi int) {
			for i := lo; i < hi; i++ {
				out[i] = T(a.df(m, float64(x[i]))) * dy[i]
			}
		})
		return nil
	}
}
