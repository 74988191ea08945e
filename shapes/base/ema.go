package base

import "github.com/latexblend/latexblend/nn"

// ema keeps an exponential moving average of parameters, as diffusers' EMAModel: the
// averaged weights of a short from-scratch run sample visibly cleaner images than its
// last step's, whose noise from the final minibatches they smooth out.
type ema struct {
	decay  float64
	params []*nn.Param
	shadow [][]float32
	steps  int
}

func newEMA(params []*nn.Param, decay float64) *ema {
	e := &ema{decay: decay, params: params, shadow: make([][]float32, len(params))}
	for i, p := range params {
		e.shadow[i] = append([]float32(nil), p.Value.Data().([]float32)...)
	}
	return e
}

// update folds the current weights in. The effective decay ramps up as
// min(decay, (1+n)/(10+n)), so the first steps' random weights fade quickly.
func (e *ema) update() {
	e.steps++
	d := min(e.decay, float64(1+e.steps)/float64(10+e.steps))
	keep, take := float32(d), float32(1-d)
	for i, p := range e.params {
		w := p.Value.Data().([]float32)
		s := e.shadow[i]
		for j := range s {
			s[j] = keep*s[j] + take*w[j]
		}
	}
}

// swap exchanges the live weights and the averages; calling it twice restores both.
func (e *ema) swap() {
	for i, p := range e.params {
		w := p.Value.Data().([]float32)
		s := e.shadow[i]
		for j := range s {
			w[j], s[j] = s[j], w[j]
		}
	}
}
