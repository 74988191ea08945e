package diffusers

import (
	"encoding/json"
	"fmt"
	"os"
)

// SchedulerConfig is scheduler/scheduler_config.json. It is the union of the fields
// of the Euler, DDIM and DDPM schedulers; the defaults depend on _class_name.
type SchedulerConfig struct {
	ClassName         string    `json:"_class_name"`
	DiffusersVersion  string    `json:"_diffusers_version"`
	NumTrainTimesteps int       `json:"num_train_timesteps"`
	BetaStart         float64   `json:"beta_start"`
	BetaEnd           float64   `json:"beta_end"`
	BetaSchedule      string    `json:"beta_schedule"` // "linear", "scaled_linear", "squaredcos_cap_v2"
	TrainedBetas      []float64 `json:"trained_betas"`
	PredictionType    string    `json:"prediction_type"` // "epsilon", "v_prediction", "sample"
	// TimestepSpacing is "leading", "trailing" or "linspace".
	TimestepSpacing string `json:"timestep_spacing"`
	StepsOffset     int    `json:"steps_offset"`
	// Euler.
	InterpolationType string `json:"interpolation_type"`
	UseKarrasSigmas   bool   `json:"use_karras_sigmas"`
	// DDIM / DDPM.
	ClipSample               bool    `json:"clip_sample"`
	ClipSampleRange          float64 `json:"clip_sample_range"`
	SetAlphaToOne            bool    `json:"set_alpha_to_one"`
	Thresholding             bool    `json:"thresholding"`
	DynamicThresholdingRatio float64 `json:"dynamic_thresholding_ratio"`
	SampleMaxValue           float64 `json:"sample_max_value"`
	RescaleBetasZeroSNR      bool    `json:"rescale_betas_zero_snr"`
	VarianceType             string  `json:"variance_type"`

	Extra map[string]json.RawMessage `json:"-"`
}

// DefaultSchedulerConfig returns the constructor defaults (diffusers v0.21.4) of the
// named scheduler class; unknown classes get the shared defaults.
func DefaultSchedulerConfig(class string) SchedulerConfig {
	c := SchedulerConfig{
		ClassName:                class,
		NumTrainTimesteps:        1000,
		BetaStart:                0.0001,
		BetaEnd:                  0.02,
		BetaSchedule:             "linear",
		PredictionType:           "epsilon",
		TimestepSpacing:          "leading",
		InterpolationType:        "linear",
		ClipSample:               true,
		ClipSampleRange:          1,
		SetAlphaToOne:            true,
		DynamicThresholdingRatio: 0.995,
		SampleMaxValue:           1,
		VarianceType:             "fixed_small",
	}
	if class == "EulerDiscreteScheduler" {
		c.TimestepSpacing = "linspace"
	}
	return c
}

// ReadSchedulerConfig reads a scheduler_config.json.
func ReadSchedulerConfig(path string) (*SchedulerConfig, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("diffusers: %w", err)
	}
	var head struct {
		ClassName string `json:"_class_name"`
	}
	if err := json.Unmarshal(data, &head); err != nil {
		return nil, fmt.Errorf("diffusers: %s: %w", path, err)
	}
	c := DefaultSchedulerConfig(head.ClassName)
	extra, err := decodeJSON(data, &c)
	if err != nil {
		return nil, fmt.Errorf("diffusers: %s: %w", path, err)
	}
	c.Extra = extra
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("diffusers: %s: %w", path, err)
	}
	return &c, nil
}

// Validate checks the values a scheduler needs.
func (c *SchedulerConfig) Validate() error {
	if c.NumTrainTimesteps <= 0 {
		return fmt.Errorf("num_train_timesteps = %d, want > 0", c.NumTrainTimesteps)
	}
	if c.TrainedBetas == nil {
		switch c.BetaSchedule {
		case "linear", "scaled_linear", "squaredcos_cap_v2":
		default:
			return fmt.Errorf("beta_schedule %q is not supported (linear, scaled_linear, squaredcos_cap_v2)", c.BetaSchedule)
		}
	} else if len(c.TrainedBetas) != c.NumTrainTimesteps {
		return fmt.Errorf("trained_betas has %d entries, num_train_timesteps is %d", len(c.TrainedBetas), c.NumTrainTimesteps)
	}
	switch c.PredictionType {
	case "epsilon", "v_prediction", "sample":
	default:
		return fmt.Errorf("prediction_type %q is not supported (epsilon, v_prediction, sample)", c.PredictionType)
	}
	switch c.TimestepSpacing {
	case "leading", "trailing", "linspace":
	default:
		return fmt.Errorf("timestep_spacing %q is not supported (leading, trailing, linspace)", c.TimestepSpacing)
	}
	return nil
}
