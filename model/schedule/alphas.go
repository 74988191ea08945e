package schedule

import (
	"fmt"
	"math"
)

// alphaTable is the training noise schedule shared by DDIM and DDPM: abar_t in float32.
type alphaTable struct {
	acp []float32
}

func newAlphaTable(s settings) alphaTable {
	return alphaTable{acp: alphasCumprod(betas(s))}
}

// AlphasCumprod returns abar_t for t in [0, num_train_timesteps).
func (a alphaTable) AlphasCumprod() []float64 { return toFloat64(a.acp) }

// index converts a timestep to a table index: it must be an integer in range.
func (a alphaTable) index(t float64) (int, error) {
	if t != math.Trunc(t) || t < 0 || t >= float64(len(a.acp)) {
		return 0, fmt.Errorf("schedule: timestep %g is not an integer in [0, %d)", t, len(a.acp))
	}
	return int(t), nil
}

// AddNoise returns sqrt(abar_t)·x0 + sqrt(1-abar_t)·noise per sample, rounding to float32
// after each operation as torch does.
func (a alphaTable) AddNoise(original, noise []float32, perSample int, timesteps []float64) ([]float32, error) {
	return a.mix(original, noise, perSample, timesteps, false)
}

// Velocity returns the v-prediction training target sqrt(abar_t)·noise - sqrt(1-abar_t)·x0
// per sample (diffusers get_velocity).
func (a alphaTable) Velocity(sample, noise []float32, perSample int, timesteps []float64) ([]float32, error) {
	return a.mix(sample, noise, perSample, timesteps, true)
}

func (a alphaTable) mix(x, noise []float32, perSample int, timesteps []float64, velocity bool) ([]float32, error) {
	if err := checkBatch(x, noise, perSample, timesteps); err != nil {
		return nil, err
	}
	out := make([]float32, len(x))
	for b, t := range timesteps {
		ti, err := a.index(t)
		if err != nil {
			return nil, fmt.Errorf("sample %d: %w", b, err)
		}
		ab := a.acp[ti]
		sa := sqrt32(ab)
		s1 := sqrt32(1 - ab)
		lo, hi := b*perSample, (b+1)*perSample
		for i := lo; i < hi; i++ {
			if velocity {
				out[i] = float32(sa*noise[i]) - float32(s1*x[i])
			} else {
				out[i] = float32(sa*x[i]) + float32(s1*noise[i])
			}
		}
	}
	return out, nil
}

// predictX0Eps converts a model output into the predicted clean sample and noise for an
// alpha-parameterised step (abar = aT, 1-abar = bT), per prediction type. needEps skips the
// noise estimate when the caller does not use it.
func predictX0Eps(prediction string, modelOutput, sample []float32, aT, bT float32, needEps bool) (x0, eps []float32) {
	sa, sb := sqrt32(aT), sqrt32(bT)
	x0 = make([]float32, len(sample))
	switch prediction {
	case PredictEpsilon:
		for i, m := range modelOutput {
			x0[i] = float32(sample[i]-float32(sb*m)) / sa
		}
		eps = modelOutput
	case PredictSample:
		copy(x0, modelOutput)
		if needEps {
			eps = make([]float32, len(sample))
			for i, x := range sample {
				eps[i] = float32(x-float32(sa*x0[i])) / sb
			}
		}
	case PredictV:
		for i, m := range modelOutput {
			x0[i] = float32(sa*sample[i]) - float32(sb*m)
		}
		if needEps {
			eps = make([]float32, len(sample))
			for i, m := range modelOutput {
				eps[i] = float32(sa*m) + float32(sb*sample[i])
			}
		}
	}
	return x0, eps
}

// clamp32 clips every value of x to [-r, r] in place.
func clamp32(x []float32, r float64) {
	lim := float32(r)
	for i, v := range x {
		x[i] = min(max(v, -lim), lim)
	}
}

// sqrt32 is a correctly rounded float32 square root (torch's x ** 0.5).
func sqrt32(x float32) float32 { return float32(math.Sqrt(float64(x))) }
