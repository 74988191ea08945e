package schedule

import (
	"fmt"
	"path/filepath"
)

// Scheduler is one diffusion sampler/noiser. Tensors are flat float32 slices holding one or
// more samples back to back; see the package documentation for batching.
type Scheduler interface {
	// Kind says which algorithm this is.
	Kind() Kind
	// SetTimesteps prepares an n-step inference schedule.
	SetTimesteps(n int) error
	// Timesteps returns the inference timesteps, highest first. DDIM and DDPM timesteps are
	// integers; Euler's are float32 values (fractional with linspace spacing). The UNet takes
	// them as its (float) timestep input.
	Timesteps() []float64
	// InitNoiseSigma is the standard deviation of the initial latents: the pipeline
	// multiplies unit Gaussian noise (or given latents) by it.
	InitNoiseSigma() float64
	// ScaleModelInput returns the UNet input for step stepIndex (a new slice; Euler divides
	// by sqrt(sigma²+1), DDIM and DDPM return a copy).
	ScaleModelInput(sample []float32, stepIndex int) ([]float32, error)
	// Step computes x_{t-1} from the model output at step stepIndex. noise is the variance
	// noise for stochastic steps (same length as sample); it may be nil when
	// StepNeedsNoise(stepIndex) is false.
	Step(modelOutput, sample []float32, stepIndex int, noise []float32) (StepOutput, error)
	// StepNeedsNoise reports whether Step at stepIndex uses its noise argument.
	StepNeedsNoise(stepIndex int) bool
	// AddNoise noises clean samples for training or img2img: len(original) = perSample *
	// len(timesteps), and sample i is noised to timesteps[i]. DDIM and DDPM accept any
	// integer timestep in [0, num_train_timesteps); Euler only timesteps of its schedule.
	AddNoise(original, noise []float32, perSample int, timesteps []float64) ([]float32, error)
	// AlphasCumprod returns the float32 training table abar_t (as float64 values).
	AlphasCumprod() []float64
}

// StepOutput is the result of one scheduler step.
type StepOutput struct {
	PrevSample         []float32 // x_{t-1}, the next loop input
	PredOriginalSample []float32 // the predicted clean sample x_0
}

// New builds the scheduler of the given kind from cfg. An empty kind uses cfg's
// _class_name; a non-empty kind overrides it (fields the file does not set take that
// kind's diffusers defaults).
func New(cfg Config, kind Kind) (Scheduler, error) {
	if kind == "" {
		if cfg.ClassName == "" {
			return nil, fieldError("_class_name", "", "missing, and no scheduler kind was given")
		}
		k, ok := classKinds[cfg.ClassName]
		if !ok {
			return nil, fieldError("_class_name", cfg.ClassName, "want EulerDiscreteScheduler, DDIMScheduler or DDPMScheduler")
		}
		kind = k
	}
	switch kind {
	case KindEuler:
		return NewEuler(cfg)
	case KindDDIM:
		return NewDDIM(cfg)
	case KindDDPM:
		return NewDDPM(cfg)
	}
	return nil, fmt.Errorf("schedule: unknown scheduler kind %q (want euler, ddim or ddpm)", kind)
}

// FromFile loads scheduler_config.json at path (or, when path is a model folder, its
// scheduler/scheduler_config.json) and builds the scheduler of kind ("" = the file's class).
func FromFile(path string, kind Kind) (Scheduler, error) {
	if filepath.Ext(path) != ".json" {
		path = filepath.Join(path, "scheduler", "scheduler_config.json")
	}
	cfg, err := LoadConfig(path)
	if err != nil {
		return nil, err
	}
	s, err := New(cfg, kind)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return s, nil
}

// checkIndex validates a step index against an n-step schedule.
func checkIndex(stepIndex, n int) error {
	if n == 0 {
		return fmt.Errorf("schedule: SetTimesteps has not been called")
	}
	if stepIndex < 0 || stepIndex >= n {
		return fmt.Errorf("schedule: step index %d outside the %d-step schedule", stepIndex, n)
	}
	return nil
}

// checkSameLen validates that two tensors have the same length.
func checkSameLen(aName string, a []float32, bName string, b []float32) error {
	if len(a) != len(b) {
		return fmt.Errorf("schedule: %s has %d values but %s has %d", aName, len(a), bName, len(b))
	}
	if len(a) == 0 {
		return fmt.Errorf("schedule: %s is empty", aName)
	}
	return nil
}

// checkBatch validates AddNoise's arguments.
func checkBatch(original, noise []float32, perSample int, timesteps []float64) error {
	if err := checkSameLen("original", original, "noise", noise); err != nil {
		return err
	}
	if perSample <= 0 || perSample*len(timesteps) != len(original) {
		return fmt.Errorf("schedule: %d timesteps of %d values each do not cover %d sample values",
			len(timesteps), perSample, len(original))
	}
	return nil
}

func toFloat64[T float32 | int64](v []T) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = float64(x)
	}
	return out
}
