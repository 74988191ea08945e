package schedule

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"testing"

	"github.com/latexblend/latexblend/internal/golden"
	"github.com/latexblend/latexblend/model/safetensors"
)

// goldenTol is golden/README.md's tolerance for scheduler tables, steps and add_noise:
// max|go-ref| <= 1e-6·max|ref|.
const goldenTol = 1e-6

// goldenCase opens cases/schedulers.{json,safetensors} and returns the per-kind configs.
func goldenCase(t *testing.T) (map[Kind]Config, *safetensors.File) {
	t.Helper()
	raw, err := os.ReadFile(golden.Path(t, "cases", "schedulers.json"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Configs map[string]json.RawMessage `json:"configs"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("schedulers.json: %v", err)
	}
	cfgs := map[Kind]Config{}
	for name, msg := range doc.Configs {
		c, err := ParseConfig(msg)
		if err != nil {
			t.Fatalf("schedulers.json config %s: %v", name, err)
		}
		cfgs[Kind(name)] = c
	}
	f, err := safetensors.Open(golden.Path(t, "cases", "schedulers.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return cfgs, f
}

func readF32(t *testing.T, f *safetensors.File, name string) []float32 {
	t.Helper()
	v, _, err := f.Float32(name)
	if err != nil {
		t.Fatalf("golden tensor %s: %v", name, err)
	}
	return v
}

func readI64(t *testing.T, f *safetensors.File, name string) []int64 {
	t.Helper()
	v, _, err := f.Int64(name)
	if err != nil {
		t.Fatalf("golden tensor %s: %v", name, err)
	}
	return v
}

// relErr returns max|got-want| / max|want|.
func relErr[T float32 | float64](got []float64, want []T) float64 {
	var diff, scale float64
	for i, w := range want {
		diff = max(diff, math.Abs(got[i]-float64(w)))
		scale = max(scale, math.Abs(float64(w)))
	}
	if scale == 0 {
		return diff
	}
	return diff / scale
}

// expectClose fails unless got matches the golden tensor within goldenTol and logs the error.
func expectClose[T float32 | float64](t *testing.T, name string, got []T, want []float32) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: %d values, golden has %d", name, len(got), len(want))
		return
	}
	e := relErr(toFloat64(toF32(got)), want)
	if e > goldenTol || math.IsNaN(e) {
		t.Errorf("%s: max|go-ref|/max|ref| = %.3g > %g", name, e, goldenTol)
	}
	t.Logf("%s: rel err %.3g", name, e)
}

func toF32[T float32 | float64](v []T) []float32 {
	out := make([]float32, len(v))
	for i, x := range v {
		out[i] = float32(x)
	}
	return out
}

var goldenSteps = []int{5, 20, 50}

func TestGoldenAlphasCumprod(t *testing.T) {
	cfgs, f := goldenCase(t)
	want := readF32(t, f, "alphas_cumprod")
	for _, k := range []Kind{KindEuler, KindDDIM, KindDDPM} {
		s, err := New(cfgs[k], k)
		if err != nil {
			t.Fatalf("%s: %v", k, err)
		}
		expectClose(t, string(k)+" alphas_cumprod", s.AlphasCumprod(), want)
		// Stricter than the README tolerance: the table reproduces torch's float32 linspace
		// and double-accumulated cumprod exactly (a naive linspace is 1 ulp off in 4 places).
		for i, v := range s.AlphasCumprod() {
			if float32(v) != want[i] {
				t.Errorf("%s alphas_cumprod[%d] = %v, golden %v (not bit-exact)", k, i, float32(v), want[i])
				break
			}
		}
	}
}

func TestGoldenTimesteps(t *testing.T) {
	cfgs, f := goldenCase(t)
	for _, k := range []Kind{KindEuler, KindDDIM, KindDDPM} {
		for _, n := range goldenSteps {
			s, err := New(cfgs[k], k)
			if err != nil {
				t.Fatalf("%s: %v", k, err)
			}
			if err := s.SetTimesteps(n); err != nil {
				t.Fatalf("%s n=%d: %v", k, n, err)
			}
			name := fmt.Sprintf("%s.n%d.timesteps", k, n)
			var want []float64
			if k == KindEuler {
				want = toFloat64(readF32(t, f, name))
			} else {
				want = toFloat64(readI64(t, f, name))
			}
			got := s.Timesteps()
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("%s: got %v, want %v", name, got, want)
			}
			if e, ok := s.(*Euler); ok {
				expectClose(t, fmt.Sprintf("euler.n%d.sigmas", n), e.Sigmas(), readF32(t, f, fmt.Sprintf("euler.n%d.sigmas", n)))
			}
		}
	}
}

func TestGoldenSteps(t *testing.T) {
	cfgs, f := goldenCase(t)
	sample := readF32(t, f, "sample")
	modelOutput := readF32(t, f, "model_output")
	for _, k := range []Kind{KindEuler, KindDDIM, KindDDPM} {
		for _, n := range goldenSteps {
			for _, i := range []int{0, n / 2, n - 1} {
				// A fresh scheduler per call, as the reference did.
				s, err := New(cfgs[k], k)
				if err != nil {
					t.Fatal(err)
				}
				if err := s.SetTimesteps(n); err != nil {
					t.Fatal(err)
				}
				prefix := fmt.Sprintf("%s.n%d.step.i%d", k, n, i)
				if k == KindDDIM {
					prefix = fmt.Sprintf("ddim.n%d.step_eta0.i%d", n, i)
				}
				var noise []float32
				if k == KindDDPM {
					noise = readF32(t, f, prefix+".variance_noise")
					if !s.StepNeedsNoise(i) {
						t.Errorf("%s: StepNeedsNoise is false at timestep %v", prefix, s.Timesteps()[i])
					}
				}
				out, err := s.Step(modelOutput, sample, i, noise)
				if err != nil {
					t.Fatalf("%s: %v", prefix, err)
				}
				expectClose(t, prefix, out.PrevSample, readF32(t, f, prefix))
				expectClose(t, prefix+".pred_original_sample", out.PredOriginalSample, readF32(t, f, prefix+".pred_original_sample"))
				if k == KindEuler {
					name := fmt.Sprintf("euler.n%d.scale_model_input.i%d", n, i)
					scaled, err := s.ScaleModelInput(sample, i)
					if err != nil {
						t.Fatal(err)
					}
					expectClose(t, name, scaled, readF32(t, f, name))
				}
			}
		}
	}
}

func TestGoldenAddNoise(t *testing.T) {
	cfgs, f := goldenCase(t)
	sample := readF32(t, f, "sample")
	modelOutput := readF32(t, f, "model_output")
	// The reference noised the sample repeated 4 times, with model_output x4 as the noise.
	var x0, noise []float32
	for range 4 {
		x0 = append(x0, sample...)
		noise = append(noise, modelOutput...)
	}
	for _, k := range []Kind{KindEuler, KindDDIM, KindDDPM} {
		s, err := New(cfgs[k], k)
		if err != nil {
			t.Fatal(err)
		}
		name := string(k) + ".add_noise"
		var ts []float64
		if k == KindEuler {
			if err := s.SetTimesteps(20); err != nil {
				t.Fatal(err)
			}
			name = "euler.n20.add_noise"
			ts = toFloat64(readF32(t, f, name+".timesteps"))
		} else {
			ts = toFloat64(readI64(t, f, name+".timesteps"))
		}
		got, err := s.AddNoise(x0, noise, len(sample), ts)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		expectClose(t, fmt.Sprintf("%s (timesteps %v)", name, ts), got, readF32(t, f, name))
	}
}
