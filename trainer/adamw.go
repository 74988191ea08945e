package trainer

import (
	"fmt"
	"math"
)

// adamW is torch.optim.AdamW (decoupled weight decay, bias-corrected moments, eps
// outside the square root) over flat float32 slices, with moments the trainer can
// checkpoint (nn.AdamW keeps its moments private). Moments are float32 as in torch.
type adamW struct {
	lr, beta1, beta2, eps, wd float64
	steps                     int
	m, v                      [][]float32
}

func newAdamW(r Recipe, sizes []int) *adamW {
	o := &adamW{lr: r.EffectiveLR(), beta1: r.Beta1, beta2: r.Beta2, eps: r.Eps, wd: r.WeightDecay}
	for _, n := range sizes {
		o.m = append(o.m, make([]float32, n))
		o.v = append(o.v, make([]float32, n))
	}
	return o
}

// step applies one update to params[i] from grads[i]. It follows torch's float32
// operation order and rounding (the foreach-free _single_tensor_adamw): decay
// p·(1-lr·wd), m.lerp_(g, 1-β1), v·β2 + ((1-β2)·g)·g, denom = √v/√(1-β2^t) + eps,
// p += (-(lr/(1-β1^t))·m)/denom (ATen's addcmul/addcdiv order), each operation rounded to float32, so that one step
// matches the reference to the last bit on typical values.
func (o *adamW) step(params, grads [][]float32) error {
	if len(params) != len(o.m) || len(grads) != len(o.m) {
		return fmt.Errorf("adamw: %d parameters and %d gradients for %d moment slots", len(params), len(grads), len(o.m))
	}
	o.steps++
	t := float64(o.steps)
	bc2sqrt := float32(math.Sqrt(1 - math.Pow(o.beta2, t)))
	stepSize := float32(-(o.lr / (1 - math.Pow(o.beta1, t))))
	decay := float32(1 - o.lr*o.wd)
	w1 := float32(1 - o.beta1)
	b2, w2 := float32(o.beta2), float32(1-o.beta2)
	eps := float32(o.eps)
	for i, w := range params {
		g, m, v := grads[i], o.m[i], o.v[i]
		if len(g) != len(w) || len(m) != len(w) {
			return fmt.Errorf("adamw: slot %d has %d values, %d gradients, %d moments", i, len(w), len(g), len(m))
		}
		for j := range w {
			gj := g[j]
			w[j] = round32(w[j] * decay)
			m[j] = round32(m[j] + round32(w1*round32(gj-m[j])))
			v[j] = round32(round32(v[j]*b2) + round32(round32(w2*gj)*gj))
			denom := round32(round32(sqrt32(v[j])/bc2sqrt) + eps)
			w[j] = round32(w[j] + round32(round32(stepSize*m[j])/denom))
		}
	}
	return nil
}

// round32 forces a float32 rounding (Go may otherwise fuse a multiply and an add).
func round32(x float32) float32 { return x }

func sqrt32(x float32) float32 { return float32(math.Sqrt(float64(x))) }

// decayOnly applies the weight decay alone, which is AdamW's whole update for a value
// whose gradient has always been zero (its moments stay zero): the embedding rows
// other than the modifier's.
func (o *adamW) decayOnly(w []float32) {
	decay := float32(1 - o.lr*o.wd)
	for j := range w {
		w[j] = round32(w[j] * decay)
	}
}

// clipGradNorm scales grads so that their global L2 norm is at most maxNorm, as
// torch.nn.utils.clip_grad_norm_ does (coefficient maxNorm/(norm+1e-6), clamped at 1).
// It returns the norm before clipping.
func clipGradNorm(grads [][]float32, maxNorm float64) float64 {
	var ss float64
	for _, g := range grads {
		for _, x := range g {
			ss += float64(x) * float64(x)
		}
	}
	norm := math.Sqrt(ss)
	if maxNorm <= 0 {
		return norm
	}
	coef := maxNorm / (norm + 1e-6)
	if coef < 1 {
		for _, g := range grads {
			for j := range g {
				g[j] = float32(float64(g[j]) * coef)
			}
		}
	}
	return norm
}
