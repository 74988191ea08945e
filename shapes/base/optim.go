package base

import (
	"math"

	"github.com/latexblend/latexblend/nn"
)

// lrSchedule is a learning-rate schedule: linear warmup to Peak over Warmup steps, then
// a cosine decay to Peak·Floor at step Total.
type lrSchedule struct {
	Peak   float64
	Warmup int
	Total  int
	Floor  float64
}

// at returns the learning rate of step (0-based).
func (s lrSchedule) at(step int) float64 {
	if s.Warmup > 0 && step < s.Warmup {
		return s.Peak * float64(step+1) / float64(s.Warmup)
	}
	span := s.Total - s.Warmup
	if span <= 0 {
		return s.Peak
	}
	p := math.Min(1, float64(step-s.Warmup)/float64(span))
	return s.Peak * (s.Floor + (1-s.Floor)*0.5*(1+math.Cos(math.Pi*p)))
}

// clipGradNorm scales the gradients of params so that their global L2 norm is at most
// maxNorm (torch's clip_grad_norm_) and returns the norm before clipping. A from-scratch
// model's first steps have large gradients; clipping keeps AdamW's early moves sane.
func clipGradNorm(params []*nn.Param, maxNorm float64) float64 {
	var sum float64
	for _, p := range params {
		for _, g := range p.Grad.Data().([]float32) {
			sum += float64(g) * float64(g)
		}
	}
	norm := math.Sqrt(sum)
	if norm > maxNorm && norm > 0 {
		s := float32(maxNorm / (norm + 1e-6))
		for _, p := range params {
			g := p.Grad.Data().([]float32)
			for i := range g {
				g[i] *= s
			}
		}
	}
	return norm
}

// finite reports whether v is neither NaN nor infinite.
func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
