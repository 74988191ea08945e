package schedule

import (
	"fmt"
	"math"
)

// DDPM is diffusers' DDPMScheduler (Ho et al. 2020): AddNoise for training and the
// ancestral sampling step, whose Gaussian noise the caller supplies.
type DDPM struct {
	alphaTable
	s         settings
	timesteps []int64
}

// NewDDPM builds a DDPM scheduler from cfg (absent fields take DDPMScheduler defaults).
// Before SetTimesteps its schedule is every training timestep, as in diffusers.
func NewDDPM(cfg Config) (*DDPM, error) {
	s, err := cfg.resolve(KindDDPM)
	if err != nil {
		return nil, err
	}
	d := &DDPM{alphaTable: newAlphaTable(s), s: s}
	for t := s.numTrainTimesteps - 1; t >= 0; t-- {
		d.timesteps = append(d.timesteps, int64(t))
	}
	return d, nil
}

// Kind returns KindDDPM.
func (d *DDPM) Kind() Kind { return KindDDPM }

// SetTimesteps prepares an n-step schedule.
func (d *DDPM) SetTimesteps(n int) error {
	ts, err := integerTimesteps(d.s, n)
	if err != nil {
		return err
	}
	d.timesteps = ts
	return nil
}

// Timesteps returns the inference timesteps, highest first.
func (d *DDPM) Timesteps() []float64 { return toFloat64(d.timesteps) }

// InitNoiseSigma is 1: DDPM starts from unit-variance noise.
func (d *DDPM) InitNoiseSigma() float64 { return 1 }

// ScaleModelInput returns a copy of sample: DDPM does not scale the model input.
func (d *DDPM) ScaleModelInput(sample []float32, stepIndex int) ([]float32, error) {
	if err := checkIndex(stepIndex, len(d.timesteps)); err != nil {
		return nil, err
	}
	return append([]float32(nil), sample...), nil
}

// StepNeedsNoise reports whether the step adds noise: every step at a timestep above 0.
func (d *DDPM) StepNeedsNoise(stepIndex int) bool {
	return stepIndex >= 0 && stepIndex < len(d.timesteps) && d.timesteps[stepIndex] > 0
}

// prevTimestep is the timestep the step at t moves to: diffusers subtracts
// num_train_timesteps // n whatever the spacing (negative past the end, where abar = 1).
func (d *DDPM) prevTimestep(t int64) int64 {
	return t - int64(d.s.numTrainTimesteps/len(d.timesteps))
}

// Step computes the posterior mean of x_{t-1} given x_t and the predicted x0, plus
// sqrt(variance)·noise when t > 0 (variance_type fixed_small: the posterior variance,
// clamped at 1e-20).
func (d *DDPM) Step(modelOutput, sample []float32, stepIndex int, noise []float32) (StepOutput, error) {
	if err := checkIndex(stepIndex, len(d.timesteps)); err != nil {
		return StepOutput{}, err
	}
	if err := checkSameLen("model output", modelOutput, "sample", sample); err != nil {
		return StepOutput{}, err
	}
	t := d.timesteps[stepIndex]
	if t > 0 {
		if noise == nil {
			return StepOutput{}, fmt.Errorf("schedule: ddpm step %d (timestep %d) needs variance noise", stepIndex, t)
		}
		if err := checkSameLen("noise", noise, "sample", sample); err != nil {
			return StepOutput{}, err
		}
	}
	prev := d.prevTimestep(t)
	aT := d.acp[t]
	aPrev := float32(1)
	if prev >= 0 {
		aPrev = d.acp[prev]
	}
	bT := 1 - aT
	bPrev := 1 - aPrev
	curAlpha := aT / aPrev
	curBeta := 1 - curAlpha

	x0, _ := predictX0Eps(d.s.predictionType, modelOutput, sample, aT, bT, false)
	if d.s.clipSample {
		clamp32(x0, d.s.clipSampleRange)
	}
	x0Coef := float32(sqrt32(aPrev)*curBeta) / bT
	xtCoef := float32(sqrt32(curAlpha)*bPrev) / bT
	out := make([]float32, len(sample))
	for i := range out {
		out[i] = float32(x0Coef*x0[i]) + float32(xtCoef*sample[i])
	}
	if t > 0 {
		std := d.noiseScale(aT, aPrev)
		for i := range out {
			out[i] += float32(std * noise[i])
		}
	}
	return StepOutput{PrevSample: out, PredOriginalSample: x0}, nil
}

// noiseScale is the factor of the variance noise for the configured variance_type.
func (d *DDPM) noiseScale(aT, aPrev float32) float32 {
	curBeta := 1 - aT/aPrev
	variance := float32(float32(1-aPrev)/float32(1-aT)) * curBeta
	variance = max(variance, float32(1e-20))
	switch d.s.varianceType {
	case "fixed_small_log":
		return float32(math.Exp(float64(0.5 * float32(math.Log(float64(variance))))))
	case "fixed_large":
		return sqrt32(curBeta)
	}
	return sqrt32(variance)
}

var _ Scheduler = (*DDPM)(nil)
