package schedule

import (
	"fmt"
	"math"
)

// Euler is diffusers' EulerDiscreteScheduler (Karras et al. 2022, algorithm 2) with
// s_churn = 0, i.e. deterministic: x_{i+1} = x_i + d·(sigma_{i+1} - sigma_i) with
// d = (x_i - x0)/sigma_i. Before SetTimesteps its schedule is every training timestep.
type Euler struct {
	s          settings
	acp        []float32
	trainSigma []float32 // sqrt((1-abar)/abar) per training timestep, float32 as in torch
	timesteps  []float32
	sigmas     []float32 // one per timestep, then a final 0
}

// NewEuler builds an Euler scheduler from cfg (absent fields take
// EulerDiscreteScheduler defaults).
func NewEuler(cfg Config) (*Euler, error) {
	s, err := cfg.resolve(KindEuler)
	if err != nil {
		return nil, err
	}
	e := &Euler{s: s, acp: alphasCumprod(betas(s))}
	e.trainSigma = make([]float32, len(e.acp))
	for i, a := range e.acp {
		e.trainSigma[i] = sqrt32(float32(1-a) / a)
	}
	n := s.numTrainTimesteps
	e.timesteps = make([]float32, n)
	e.sigmas = make([]float32, n+1)
	for i := range n {
		e.timesteps[i] = float32(n - 1 - i)
		e.sigmas[i] = e.trainSigma[n-1-i]
	}
	return e, nil
}

// Kind returns KindEuler.
func (e *Euler) Kind() Kind { return KindEuler }

// SetTimesteps prepares an n-step schedule: timesteps per timestep_spacing and sigmas
// linearly interpolated (in float64, as numpy) in the training sigma table, then float32.
func (e *Euler) SetTimesteps(n int) error {
	ts, err := floatTimesteps(e.s, n)
	if err != nil {
		return err
	}
	table := toFloat64(e.trainSigma)
	sigmas := make([]float32, n+1)
	for i, t := range ts {
		sigmas[i] = float32(numpyInterp(float64(t), table))
	}
	e.timesteps, e.sigmas = ts, sigmas
	return nil
}

// Timesteps returns the inference timesteps (float32 values), highest first.
func (e *Euler) Timesteps() []float64 { return toFloat64(e.timesteps) }

// Sigmas returns the noise levels of the schedule: one per timestep and a final 0.
func (e *Euler) Sigmas() []float64 { return toFloat64(e.sigmas) }

// AlphasCumprod returns the float32 training table abar_t (as float64 values).
func (e *Euler) AlphasCumprod() []float64 { return toFloat64(e.acp) }

// InitNoiseSigma is the largest sigma for linspace and trailing spacing and
// sqrt(sigma_max²+1) for leading spacing (computed in float32, as diffusers does).
func (e *Euler) InitNoiseSigma() float64 {
	m := e.sigmas[0]
	for _, s := range e.sigmas {
		m = max(m, s)
	}
	if e.s.timestepSpacing == SpacingLinspace || e.s.timestepSpacing == SpacingTrailing {
		return float64(m)
	}
	return float64(sqrt32(float32(m*m) + 1))
}

// inputScale is sqrt(sigma²+1) in float32.
func inputScale(sigma float32) float32 { return sqrt32(float32(sigma*sigma) + 1) }

// ScaleModelInput returns sample / sqrt(sigma_i² + 1).
func (e *Euler) ScaleModelInput(sample []float32, stepIndex int) ([]float32, error) {
	if err := checkIndex(stepIndex, len(e.timesteps)); err != nil {
		return nil, err
	}
	scale := inputScale(e.sigmas[stepIndex])
	out := make([]float32, len(sample))
	for i, x := range sample {
		out[i] = x / scale
	}
	return out, nil
}

// StepNeedsNoise is false: with s_churn = 0 the Euler step is deterministic.
func (e *Euler) StepNeedsNoise(int) bool { return false }

// Step moves the sample from sigma_i to sigma_{i+1}. noise is ignored.
func (e *Euler) Step(modelOutput, sample []float32, stepIndex int, _ []float32) (StepOutput, error) {
	if err := checkIndex(stepIndex, len(e.timesteps)); err != nil {
		return StepOutput{}, err
	}
	if err := checkSameLen("model output", modelOutput, "sample", sample); err != nil {
		return StepOutput{}, err
	}
	sigma := e.sigmas[stepIndex]
	dt := e.sigmas[stepIndex+1] - sigma
	x0 := make([]float32, len(sample))
	switch e.s.predictionType {
	case PredictEpsilon:
		for i, m := range modelOutput {
			x0[i] = sample[i] - float32(sigma*m)
		}
	case PredictSample:
		copy(x0, modelOutput)
	case PredictV:
		scale := inputScale(sigma)
		c := -sigma / scale
		d := float32(sigma*sigma) + 1
		for i, m := range modelOutput {
			x0[i] = float32(m*c) + float32(sample[i]/d)
		}
	}
	out := make([]float32, len(sample))
	for i, x := range sample {
		deriv := float32(x-x0[i]) / sigma
		out[i] = x + float32(deriv*dt)
	}
	return StepOutput{PrevSample: out, PredOriginalSample: x0}, nil
}

// AddNoise returns x0 + sigma(t)·noise per sample; each timestep must be one of the
// schedule's (diffusers looks its index up in the timesteps).
func (e *Euler) AddNoise(original, noise []float32, perSample int, timesteps []float64) ([]float32, error) {
	if err := checkBatch(original, noise, perSample, timesteps); err != nil {
		return nil, err
	}
	out := make([]float32, len(original))
	for b, t := range timesteps {
		idx := e.index(t)
		if idx < 0 {
			return nil, fmt.Errorf("schedule: sample %d: timestep %g is not in the Euler schedule", b, t)
		}
		sigma := e.sigmas[idx]
		for i := b * perSample; i < (b+1)*perSample; i++ {
			out[i] = original[i] + float32(noise[i]*sigma)
		}
	}
	return out, nil
}

// index returns the position of timestep t in the schedule, or -1.
func (e *Euler) index(t float64) int {
	if math.IsNaN(t) {
		return -1
	}
	for i, v := range e.timesteps {
		if float64(v) == t {
			return i
		}
	}
	return -1
}

var _ Scheduler = (*Euler)(nil)
