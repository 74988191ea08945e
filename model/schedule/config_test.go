package schedule

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/latexblend/latexblend/internal/golden"
)

// sdxlConfig is the scheduler_config.json of stable-diffusion-xl-base-1.0 as far as this
// package reads it (the tiny golden model uses the same values).
const sdxlConfig = `{
  "_class_name": "EulerDiscreteScheduler",
  "beta_end": 0.012, "beta_schedule": "scaled_linear", "beta_start": 0.00085,
  "interpolation_type": "linear", "num_train_timesteps": 1000, "prediction_type": "epsilon",
  "steps_offset": 1, "timestep_spacing": "leading", "trained_betas": null, "use_karras_sigmas": false
}`

func mustConfig(t *testing.T, doc string) Config {
	t.Helper()
	c, err := ParseConfig([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// withField returns the SDXL config with one key set to a JSON value.
func withField(t *testing.T, key, value string) Config {
	t.Helper()
	var doc map[string]json.RawMessage
	if err := json.Unmarshal([]byte(sdxlConfig), &doc); err != nil {
		t.Fatal(err)
	}
	doc[key] = json.RawMessage(value)
	raw, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	return mustConfig(t, string(raw))
}

func TestConfigErrorsNameFieldAndValue(t *testing.T) {
	tests := []struct {
		name, key, value string
		kind             Kind
		wantField        string
		wantText         string
	}{
		{"unknown beta schedule", "beta_schedule", `"cosine"`, KindEuler, "beta_schedule", `"cosine"`},
		{"zero train steps", "num_train_timesteps", `0`, KindDDPM, "num_train_timesteps", "0"},
		{"negative train steps", "num_train_timesteps", `-5`, KindDDIM, "num_train_timesteps", "-5"},
		{"unknown prediction", "prediction_type", `"noise"`, KindDDIM, "prediction_type", `"noise"`},
		{"unknown spacing", "timestep_spacing", `"middle"`, KindEuler, "timestep_spacing", `"middle"`},
		{"negative offset", "steps_offset", `-1`, KindDDPM, "steps_offset", "-1"},
		{"log-linear interpolation", "interpolation_type", `"log_linear"`, KindEuler, "interpolation_type", "log_linear"},
		{"karras sigmas", "use_karras_sigmas", `true`, KindEuler, "use_karras_sigmas", "true"},
		{"thresholding", "thresholding", `true`, KindDDIM, "thresholding", "true"},
		{"learned variance", "variance_type", `"learned_range"`, KindDDPM, "variance_type", "learned_range"},
		{"beta start above one", "beta_start", `1.5`, KindDDPM, "beta_start", "1.5"},
		{"trained betas length", "trained_betas", `[0.1, 0.2]`, KindDDPM, "trained_betas", "2 values"},
		{"rescale zero snr", "rescale_betas_zero_snr", `true`, KindDDIM, "rescale_betas_zero_snr", "true"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(withField(t, tt.key, tt.value), tt.kind)
			var ce *ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("New: got %v, want a *ConfigError", err)
			}
			if ce.Field != tt.wantField || !strings.Contains(err.Error(), tt.wantText) {
				t.Errorf("error %q: want field %s and value %s", err, tt.wantField, tt.wantText)
			}
		})
	}
}

func TestNewKindSelection(t *testing.T) {
	cfg := mustConfig(t, sdxlConfig)
	s, err := New(cfg, "")
	if err != nil || s.Kind() != KindEuler {
		t.Fatalf("New with the file's class: %v, %v", s, err)
	}
	for _, k := range []Kind{KindEuler, KindDDIM, KindDDPM} {
		s, err := New(cfg, k)
		if err != nil || s.Kind() != k {
			t.Errorf("New(%s): kind %v, err %v", k, s, err)
		}
	}
	if _, err := New(cfg, "heun"); err == nil || !strings.Contains(err.Error(), "heun") {
		t.Errorf("unknown kind: got %v", err)
	}
	bad := cfg
	bad.ClassName = "HeunDiscreteScheduler"
	if _, err := New(bad, ""); err == nil || !strings.Contains(err.Error(), "HeunDiscreteScheduler") {
		t.Errorf("unknown class: got %v", err)
	}
	for in, want := range map[string]Kind{"euler": KindEuler, "DDIM": KindDDIM, "DDPMScheduler": KindDDPM} {
		if k, err := ParseKind(in); err != nil || k != want {
			t.Errorf("ParseKind(%q) = %v, %v; want %v", in, k, err, want)
		}
	}
	if _, err := ParseKind("lms"); err == nil {
		t.Error("ParseKind(lms) succeeded")
	}
}

// A kind override keeps the file's values and takes the new class's defaults for the rest,
// as diffusers' from_config does: the SDXL file has no set_alpha_to_one or clip_sample.
func TestKindOverrideUsesClassDefaults(t *testing.T) {
	d, err := NewDDIM(mustConfig(t, sdxlConfig))
	if err != nil {
		t.Fatal(err)
	}
	if d.finalAcp != 1 || !d.s.clipSample || d.s.stepsOffset != 1 || d.s.betaSchedule != "scaled_linear" {
		t.Errorf("DDIM from the SDXL config: final abar %v clip %v offset %d schedule %s; want 1 true 1 scaled_linear",
			d.finalAcp, d.s.clipSample, d.s.stepsOffset, d.s.betaSchedule)
	}
	e, err := NewEuler(mustConfig(t, `{}`))
	if err != nil {
		t.Fatal(err)
	}
	if e.s.timestepSpacing != SpacingLinspace || e.s.betaEnd != 0.02 {
		t.Errorf("Euler defaults: spacing %s beta_end %v; want linspace 0.02", e.s.timestepSpacing, e.s.betaEnd)
	}
}

func TestFromFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "scheduler", "scheduler_config.json")
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(sdxlConfig), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{dir, path} {
		s, err := FromFile(p, "")
		if err != nil || s.Kind() != KindEuler {
			t.Errorf("FromFile(%s): %v, %v", p, s, err)
		}
	}
	if err := os.WriteFile(path, []byte(`{"num_train_timesteps": "many"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := FromFile(dir, KindDDPM); err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("bad JSON: error %v should name %s", err, path)
	}
	if _, err := FromFile(filepath.Join(dir, "missing"), ""); err == nil {
		t.Error("missing folder: no error")
	}
}

func TestFromFileGoldenTinySDXL(t *testing.T) {
	s, err := FromFile(golden.Path(t, "tiny-sdxl"), "")
	if err != nil {
		t.Fatal(err)
	}
	if s.Kind() != KindEuler {
		t.Fatalf("tiny-sdxl scheduler kind %s, want euler", s.Kind())
	}
}
