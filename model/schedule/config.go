package schedule

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
)

// Kind names a scheduler algorithm.
type Kind string

// The supported schedulers, with the diffusers class each one reproduces.
const (
	KindEuler Kind = "euler" // EulerDiscreteScheduler
	KindDDIM  Kind = "ddim"  // DDIMScheduler
	KindDDPM  Kind = "ddpm"  // DDPMScheduler
)

// classKinds maps diffusers `_class_name` values to kinds.
var classKinds = map[string]Kind{
	"EulerDiscreteScheduler": KindEuler,
	"DDIMScheduler":          KindDDIM,
	"DDPMScheduler":          KindDDPM,
}

// ParseKind accepts a kind ("euler", "ddim", "ddpm") or a diffusers class name.
func ParseKind(s string) (Kind, error) {
	switch k := Kind(strings.ToLower(s)); k {
	case KindEuler, KindDDIM, KindDDPM:
		return k, nil
	}
	if k, ok := classKinds[s]; ok {
		return k, nil
	}
	return "", fmt.Errorf("schedule: unknown scheduler %q (want euler, ddim, ddpm or one of EulerDiscreteScheduler, DDIMScheduler, DDPMScheduler)", s)
}

// Config is a diffusers scheduler_config.json. Fields are pointers so that a field absent
// from the file takes the default of the scheduler class it is loaded into, exactly as
// diffusers' from_config does: the SDXL config names EulerDiscreteScheduler and has no
// clip_sample or set_alpha_to_one, so DDIM built from it gets DDIM's defaults (true, true).
type Config struct {
	ClassName         string    `json:"_class_name,omitempty"`
	NumTrainTimesteps *int      `json:"num_train_timesteps,omitempty"`
	BetaStart         *float64  `json:"beta_start,omitempty"`
	BetaEnd           *float64  `json:"beta_end,omitempty"`
	BetaSchedule      *string   `json:"beta_schedule,omitempty"`
	TrainedBetas      []float64 `json:"trained_betas,omitempty"`
	PredictionType    *string   `json:"prediction_type,omitempty"`
	TimestepSpacing   *string   `json:"timestep_spacing,omitempty"`
	StepsOffset       *int      `json:"steps_offset,omitempty"`
	InterpolationType *string   `json:"interpolation_type,omitempty"`     // euler
	UseKarrasSigmas   *bool     `json:"use_karras_sigmas,omitempty"`      // euler
	ClipSample        *bool     `json:"clip_sample,omitempty"`            // ddim, ddpm
	ClipSampleRange   *float64  `json:"clip_sample_range,omitempty"`      // ddim, ddpm
	SetAlphaToOne     *bool     `json:"set_alpha_to_one,omitempty"`       // ddim
	Thresholding      *bool     `json:"thresholding,omitempty"`           // ddim, ddpm
	RescaleZeroSNR    *bool     `json:"rescale_betas_zero_snr,omitempty"` // ddim
	VarianceType      *string   `json:"variance_type,omitempty"`          // ddpm
}

// ParseConfig decodes a scheduler_config.json document. Unknown keys are ignored, as
// diffusers ignores keys that belong to other scheduler classes.
func ParseConfig(data []byte) (Config, error) {
	var c Config
	if err := json.Unmarshal(data, &c); err != nil {
		return Config{}, fmt.Errorf("schedule: decoding scheduler config: %w", err)
	}
	return c, nil
}

// LoadConfig reads and decodes a scheduler_config.json file.
func LoadConfig(path string) (Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("schedule: %w", err)
	}
	c, err := ParseConfig(data)
	if err != nil {
		return Config{}, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// settings is a Config with every field resolved to a value for one kind.
type settings struct {
	kind              Kind
	numTrainTimesteps int
	betaStart         float64
	betaEnd           float64
	betaSchedule      string
	trainedBetas      []float64
	predictionType    string
	timestepSpacing   string
	stepsOffset       int
	interpolationType string
	useKarrasSigmas   bool
	clipSample        bool
	clipSampleRange   float64
	setAlphaToOne     bool
	thresholding      bool
	rescaleZeroSNR    bool
	varianceType      string
}

// defaults returns the constructor defaults of the diffusers class for kind.
func defaults(kind Kind) settings {
	s := settings{
		kind:              kind,
		numTrainTimesteps: 1000,
		betaStart:         0.0001,
		betaEnd:           0.02,
		betaSchedule:      "linear",
		predictionType:    PredictEpsilon,
		timestepSpacing:   SpacingLeading,
		interpolationType: "linear",
		clipSampleRange:   1,
		varianceType:      "fixed_small",
	}
	switch kind {
	case KindEuler:
		s.timestepSpacing = SpacingLinspace
	case KindDDIM:
		s.clipSample = true
		s.setAlphaToOne = true
	case KindDDPM:
		s.clipSample = true
	}
	return s
}

// Prediction types: what the model output means.
const (
	PredictEpsilon = "epsilon"
	PredictV       = "v_prediction"
	PredictSample  = "sample"
)

// Timestep spacings (table 2 of "Common Diffusion Noise Schedules and Sample Steps are Flawed").
const (
	SpacingLeading  = "leading"
	SpacingTrailing = "trailing"
	SpacingLinspace = "linspace"
)

// resolve fills defaults for kind and validates every value this package relies on. Errors
// name the config field and the offending value.
func (c Config) resolve(kind Kind) (settings, error) {
	s := defaults(kind)
	setInt(&s.numTrainTimesteps, c.NumTrainTimesteps)
	setFloat(&s.betaStart, c.BetaStart)
	setFloat(&s.betaEnd, c.BetaEnd)
	setString(&s.betaSchedule, c.BetaSchedule)
	setString(&s.predictionType, c.PredictionType)
	setString(&s.timestepSpacing, c.TimestepSpacing)
	setInt(&s.stepsOffset, c.StepsOffset)
	setString(&s.interpolationType, c.InterpolationType)
	setBool(&s.useKarrasSigmas, c.UseKarrasSigmas)
	setBool(&s.clipSample, c.ClipSample)
	setFloat(&s.clipSampleRange, c.ClipSampleRange)
	setBool(&s.setAlphaToOne, c.SetAlphaToOne)
	setBool(&s.thresholding, c.Thresholding)
	setBool(&s.rescaleZeroSNR, c.RescaleZeroSNR)
	setString(&s.varianceType, c.VarianceType)
	s.trainedBetas = c.TrainedBetas

	if s.numTrainTimesteps <= 0 {
		return s, fieldError("num_train_timesteps", s.numTrainTimesteps, "must be positive")
	}
	if s.trainedBetas != nil {
		if len(s.trainedBetas) != s.numTrainTimesteps {
			return s, fieldError("trained_betas", fmt.Sprintf("%d values", len(s.trainedBetas)),
				fmt.Sprintf("must have num_train_timesteps=%d values", s.numTrainTimesteps))
		}
		for i, b := range s.trainedBetas {
			if !(b >= 0 && b < 1) {
				return s, fieldError(fmt.Sprintf("trained_betas[%d]", i), b, "must be in [0, 1)")
			}
		}
	} else {
		switch s.betaSchedule {
		case "linear", "scaled_linear":
			if !(s.betaStart >= 0 && s.betaStart < 1) {
				return s, fieldError("beta_start", s.betaStart, "must be in [0, 1)")
			}
			if !(s.betaEnd >= 0 && s.betaEnd < 1) {
				return s, fieldError("beta_end", s.betaEnd, "must be in [0, 1)")
			}
		case "squaredcos_cap_v2":
		default:
			return s, fieldError("beta_schedule", s.betaSchedule, "want linear, scaled_linear or squaredcos_cap_v2")
		}
	}
	switch s.predictionType {
	case PredictEpsilon, PredictV, PredictSample:
	default:
		return s, fieldError("prediction_type", s.predictionType, "want epsilon, v_prediction or sample")
	}
	switch s.timestepSpacing {
	case SpacingLeading, SpacingTrailing, SpacingLinspace:
	default:
		return s, fieldError("timestep_spacing", s.timestepSpacing, "want leading, trailing or linspace")
	}
	if s.stepsOffset < 0 {
		return s, fieldError("steps_offset", s.stepsOffset, "must not be negative")
	}
	switch kind {
	case KindEuler:
		if s.interpolationType != "linear" {
			return s, fieldError("interpolation_type", s.interpolationType, "only linear is supported")
		}
		if s.useKarrasSigmas {
			return s, fieldError("use_karras_sigmas", true, "Karras sigmas are not supported")
		}
	case KindDDIM, KindDDPM:
		if s.thresholding {
			return s, fieldError("thresholding", true, "dynamic thresholding is not supported")
		}
		if s.clipSample && !(s.clipSampleRange > 0) {
			return s, fieldError("clip_sample_range", s.clipSampleRange, "must be positive")
		}
		if kind == KindDDIM && s.rescaleZeroSNR {
			return s, fieldError("rescale_betas_zero_snr", true, "zero-terminal-SNR rescaling is not supported")
		}
		if kind == KindDDPM {
			switch s.varianceType {
			case "fixed_small", "fixed_small_log", "fixed_large":
			default:
				return s, fieldError("variance_type", s.varianceType, "want fixed_small, fixed_small_log or fixed_large")
			}
		}
	}
	return s, nil
}

// ConfigError reports an invalid or unsupported scheduler config value.
type ConfigError struct {
	Field  string
	Value  any
	Reason string
}

func (e *ConfigError) Error() string {
	return fmt.Sprintf("schedule: config field %s = %v: %s", e.Field, e.Value, e.Reason)
}

func fieldError(field string, value any, reason string) error {
	if s, ok := value.(string); ok {
		value = fmt.Sprintf("%q", s)
	}
	return &ConfigError{Field: field, Value: value, Reason: reason}
}

func setInt(dst *int, v *int) {
	if v != nil {
		*dst = *v
	}
}

func setFloat(dst *float64, v *float64) {
	if v != nil {
		*dst = *v
	}
}

func setString(dst *string, v *string) {
	if v != nil {
		*dst = *v
	}
}

func setBool(dst *bool, v *bool) {
	if v != nil {
		*dst = *v
	}
}
