package schedule

import "fmt"

// DDIM is diffusers' DDIMScheduler (Song et al. 2020). With Eta 0 (the default) the step is
// deterministic; Eta > 0 adds Eta·sigma_t·noise with noise supplied by the caller.
type DDIM struct {
	alphaTable
	s         settings
	finalAcp  float32 // abar used past the end of the schedule
	timesteps []int64
	// Eta weights the stochastic part of the step (diffusers' step(eta=...)); 0 = DDIM.
	Eta float64
}

// NewDDIM builds a DDIM scheduler from cfg (absent fields take DDIMScheduler defaults).
func NewDDIM(cfg Config) (*DDIM, error) {
	s, err := cfg.resolve(KindDDIM)
	if err != nil {
		return nil, err
	}
	d := &DDIM{alphaTable: newAlphaTable(s), s: s}
	d.finalAcp = d.acp[0]
	if s.setAlphaToOne {
		d.finalAcp = 1
	}
	return d, nil
}

// Kind returns KindDDIM.
func (d *DDIM) Kind() Kind { return KindDDIM }

// SetTimesteps prepares an n-step schedule.
func (d *DDIM) SetTimesteps(n int) error {
	ts, err := integerTimesteps(d.s, n)
	if err != nil {
		return err
	}
	d.timesteps = ts
	return nil
}

// Timesteps returns the inference timesteps, highest first.
func (d *DDIM) Timesteps() []float64 { return toFloat64(d.timesteps) }

// InitNoiseSigma is 1: DDIM starts from unit-variance noise.
func (d *DDIM) InitNoiseSigma() float64 { return 1 }

// ScaleModelInput returns a copy of sample: DDIM does not scale the model input.
func (d *DDIM) ScaleModelInput(sample []float32, stepIndex int) ([]float32, error) {
	if err := checkIndex(stepIndex, len(d.timesteps)); err != nil {
		return nil, err
	}
	return append([]float32(nil), sample...), nil
}

// StepNeedsNoise reports whether Eta > 0.
func (d *DDIM) StepNeedsNoise(int) bool { return d.Eta > 0 }

// prevTimestep is the timestep the step at t moves to: diffusers always subtracts
// num_train_timesteps // n, whatever the spacing (negative past the end).
func (d *DDIM) prevTimestep(t int64) int64 {
	return t - int64(d.s.numTrainTimesteps/len(d.timesteps))
}

// Step computes x_{t-1} = sqrt(abar_prev)·x0 + sqrt(1-abar_prev-s²)·eps (+ s·noise), with
// s = Eta·sqrt(variance).
func (d *DDIM) Step(modelOutput, sample []float32, stepIndex int, noise []float32) (StepOutput, error) {
	if err := checkIndex(stepIndex, len(d.timesteps)); err != nil {
		return StepOutput{}, err
	}
	if err := checkSameLen("model output", modelOutput, "sample", sample); err != nil {
		return StepOutput{}, err
	}
	if d.Eta > 0 {
		if noise == nil {
			return StepOutput{}, fmt.Errorf("schedule: ddim step %d with eta %g needs variance noise", stepIndex, d.Eta)
		}
		if err := checkSameLen("noise", noise, "sample", sample); err != nil {
			return StepOutput{}, err
		}
	}
	t := d.timesteps[stepIndex]
	prev := d.prevTimestep(t)
	aT := d.acp[t]
	aPrev := d.finalAcp
	if prev >= 0 {
		aPrev = d.acp[prev]
	}
	bT := 1 - aT
	// eps is derived before clipping x0, as diffusers does (use_clipped_model_output=False).
	x0, eps := predictX0Eps(d.s.predictionType, modelOutput, sample, aT, bT, true)
	if d.s.clipSample {
		clamp32(x0, d.s.clipSampleRange)
	}
	variance := float32(float32(1-aPrev)/bT) * float32(1-float32(aT/aPrev))
	std := float32(d.Eta) * sqrt32(variance)
	dirCoef := sqrt32(float32(1-aPrev) - float32(std*std))
	x0Coef := sqrt32(aPrev)
	out := make([]float32, len(sample))
	for i := range out {
		out[i] = float32(x0Coef*x0[i]) + float32(dirCoef*eps[i])
	}
	if d.Eta > 0 {
		for i := range out {
			out[i] += float32(std * noise[i])
		}
	}
	return StepOutput{PrevSample: out, PredOriginalSample: x0}, nil
}

var _ Scheduler = (*DDIM)(nil)
