package nn

import (
	"fmt"
	"math"
)

// AdamW is PyTorch's torch.optim.AdamW (decoupled weight decay, bias-corrected moments,
// eps added outside the square root). It updates Param.Value in place from Param.Grad,
// so the next Program run sees the new weights without recompiling. Moments are kept in
// float64 whatever the store's dtype.
type AdamW struct {
	LR          float64
	Beta1       float64
	Beta2       float64
	Eps         float64
	WeightDecay float64

	steps int
	m, v  map[*Param][]float64
}

// NewAdamW returns AdamW with PyTorch's defaults for everything but the learning rate and
// weight decay (betas 0.9, 0.999, eps 1e-8).
func NewAdamW(lr, weightDecay float64) *AdamW {
	return &AdamW{LR: lr, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: weightDecay}
}

// Steps is the number of updates done so far.
func (o *AdamW) Steps() int { return o.steps }

// Step applies one update to every given parameter from its current gradient.
func (o *AdamW) Step(params []*Param) error {
	if o.m == nil {
		o.m, o.v = map[*Param][]float64{}, map[*Param][]float64{}
	}
	o.steps++
	t := float64(o.steps)
	c1 := 1 - math.Pow(o.Beta1, t)
	c2 := 1 - math.Pow(o.Beta2, t)
	for _, p := range params {
		if p.Grad == nil {
			return fmt.Errorf("nn: AdamW: parameter %s has no gradient (is it trainable?)", p.Name)
		}
		n := p.Value.Shape().TotalSize()
		m, ok := o.m[p]
		if !ok {
			m = make([]float64, n)
			o.m[p] = m
			o.v[p] = make([]float64, n)
		}
		v := o.v[p]
		switch w := p.Value.Data().(type) {
		case []float32:
			adamwUpdate(o, w, p.Grad.Data().([]float32), m, v, c1, c2)
		case []float64:
			adamwUpdate(o, w, p.Grad.Data().([]float64), m, v, c1, c2)
		}
	}
	return nil
}

func adamwUpdate[T float](o *AdamW, w, g []T, m, v []float64, c1, c2 float64) {
	decay := 1 - o.LR*o.WeightDecay
	for i := range w {
		gi := float64(g[i])
		m[i] = o.Beta1*m[i] + (1-o.Beta1)*gi
		v[i] = o.Beta2*v[i] + (1-o.Beta2)*gi*gi
		step := o.LR * (m[i] / c1) / (math.Sqrt(v[i]/c2) + o.Eps)
		w[i] = T(float64(w[i])*decay - step)
	}
}
