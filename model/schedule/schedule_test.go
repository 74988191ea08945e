package schedule

import (
	"fmt"
	"math"
	"strings"
	"testing"
)

func sdxl(t *testing.T, kind Kind) Scheduler {
	t.Helper()
	s, err := New(mustConfig(t, sdxlConfig), kind)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// Values from the spec (§4.6, §5.1, §5.2), computed there in float64.
func TestSDXLScheduleMatchesSpec(t *testing.T) {
	e := sdxl(t, KindEuler).(*Euler)
	acp := e.AlphasCumprod()
	for _, c := range []struct {
		t    int
		want float64
	}{{0, 0.99915}, {499, 0.27767}, {999, 0.0046601}} {
		if math.Abs(acp[c.t]-c.want) > 5e-5*c.want+1e-6 {
			t.Errorf("abar[%d] = %.7g, want %.7g", c.t, acp[c.t], c.want)
		}
	}
	if s0, s999 := float64(e.trainSigma[0]), float64(e.trainSigma[999]); math.Abs(s0-0.029167) > 1e-5 || math.Abs(s999-14.6146) > 1e-3 {
		t.Errorf("training sigmas [0]=%.6g [999]=%.6g, want 0.029167 and 14.6146", s0, s999)
	}
	for _, c := range []struct {
		n                 int
		sigma0, initSigma float64
	}{{50, 13.1204, 13.1585}, {30, 11.4768, 11.5203}} {
		if err := e.SetTimesteps(c.n); err != nil {
			t.Fatal(err)
		}
		if got := e.Sigmas()[0]; math.Abs(got-c.sigma0) > 1e-3 {
			t.Errorf("n=%d: sigma_0 = %.6g, want %.6g", c.n, got, c.sigma0)
		}
		if got := e.InitNoiseSigma(); math.Abs(got-c.initSigma) > 1e-3 {
			t.Errorf("n=%d: init_noise_sigma = %.6g, want %.6g", c.n, got, c.initSigma)
		}
		if last := e.Sigmas()[c.n]; last != 0 {
			t.Errorf("n=%d: final sigma %v, want 0", c.n, last)
		}
	}
}

func TestTimestepSpacing(t *testing.T) {
	tests := []struct {
		kind    Kind
		spacing string
		offset  int
		n       int
		head    string // first values
		tail    string // last values
	}{
		{KindDDIM, "leading", 1, 50, "[981 961 941", "41 21 1]"},
		{KindDDIM, "leading", 1, 30, "[958 925 892", "67 34 1]"},
		{KindEuler, "leading", 1, 25, "[961 921 881", "81 41 1]"},
		{KindDDPM, "leading", 0, 4, "[750 500", "250 0]"},
		{KindDDIM, "trailing", 0, 10, "[999 899 799", "199 99]"},
		// 1000/400 = 2.5: 997.5 and 992.5 round half to even (998, 992), minus 1.
		{KindDDPM, "trailing", 0, 400, "[999 997 994 991 989", "9 7 4 1]"},
		{KindDDIM, "linspace", 0, 10, "[999 888 777", "222 111 0]"},
		// np.linspace(0, 999, 4) = 0, 333, 666, 999 and (0, 999, 7) = 0, 166.5, ...: rounds to even.
		{KindDDPM, "linspace", 0, 7, "[999 832 666 500 333 166 0]", "166 0]"},
		{KindEuler, "linspace", 0, 7, "[999 832.5 666 499.5 333 166.5 0]", "166.5 0]"},
		{KindEuler, "trailing", 0, 3, "[999 666 332]", "666 332]"},
		{KindEuler, "linspace", 0, 1, "[0]", "[0]"},
	}
	for _, tt := range tests {
		name := fmt.Sprintf("%s/%s/offset%d/n%d", tt.kind, tt.spacing, tt.offset, tt.n)
		t.Run(name, func(t *testing.T) {
			cfg := withField(t, "timestep_spacing", fmt.Sprintf("%q", tt.spacing))
			cfg.StepsOffset = &tt.offset
			s, err := New(cfg, tt.kind)
			if err != nil {
				t.Fatal(err)
			}
			if err := s.SetTimesteps(tt.n); err != nil {
				t.Fatal(err)
			}
			ts := s.Timesteps()
			got := fmt.Sprint(ts)
			if len(ts) != tt.n || !strings.HasPrefix(got, tt.head) || !strings.HasSuffix(got, tt.tail) {
				t.Errorf("timesteps %s: want %d values starting %s and ending %s", got, tt.n, tt.head, tt.tail)
			}
		})
	}
}

func TestSetTimestepsErrors(t *testing.T) {
	for _, k := range []Kind{KindEuler, KindDDIM, KindDDPM} {
		s := sdxl(t, k)
		for _, n := range []int{0, -3, 1001} {
			if err := s.SetTimesteps(n); err == nil {
				t.Errorf("%s: SetTimesteps(%d) succeeded", k, n)
			}
		}
		// 1000 leading steps with steps_offset 1 would reach timestep 1000.
		if err := s.SetTimesteps(1000); err == nil || !strings.Contains(err.Error(), "1000") {
			t.Errorf("%s: SetTimesteps(1000) with offset 1: got %v", k, err)
		}
	}
	d := sdxl(t, KindDDIM)
	if _, err := d.Step(make([]float32, 4), make([]float32, 4), 0, nil); err == nil || !strings.Contains(err.Error(), "SetTimesteps") {
		t.Errorf("DDIM step before SetTimesteps: got %v", err)
	}
}

func TestStepArgumentErrors(t *testing.T) {
	for _, k := range []Kind{KindEuler, KindDDIM, KindDDPM} {
		s := sdxl(t, k)
		if err := s.SetTimesteps(10); err != nil {
			t.Fatal(err)
		}
		x := make([]float32, 8)
		noise := make([]float32, 8)
		if _, err := s.Step(make([]float32, 7), x, 0, noise); err == nil {
			t.Errorf("%s: mismatched lengths accepted", k)
		}
		for _, i := range []int{-1, 10} {
			if _, err := s.Step(x, x, i, noise); err == nil {
				t.Errorf("%s: step index %d accepted", k, i)
			}
			if _, err := s.ScaleModelInput(x, i); err == nil {
				t.Errorf("%s: ScaleModelInput index %d accepted", k, i)
			}
		}
		if _, err := s.AddNoise(x, noise, 3, []float64{1, 1}); err == nil {
			t.Errorf("%s: AddNoise with 2x3 != 8 values accepted", k)
		}
	}
	p := sdxl(t, KindDDPM)
	if err := p.SetTimesteps(10); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Step(make([]float32, 4), make([]float32, 4), 0, nil); err == nil || !strings.Contains(err.Error(), "noise") {
		t.Errorf("DDPM step without noise: got %v", err)
	}
	if _, err := p.AddNoise(make([]float32, 2), make([]float32, 2), 1, []float64{999, 1000}); err == nil || !strings.Contains(err.Error(), "1000") {
		t.Errorf("DDPM AddNoise at timestep 1000: got %v", err)
	}
	if _, err := p.AddNoise(make([]float32, 1), make([]float32, 1), 1, []float64{2.5}); err == nil {
		t.Error("DDPM AddNoise at timestep 2.5 accepted")
	}
	e := sdxl(t, KindEuler)
	if err := e.SetTimesteps(10); err != nil {
		t.Fatal(err)
	}
	if _, err := e.AddNoise(make([]float32, 1), make([]float32, 1), 1, []float64{500}); err == nil || !strings.Contains(err.Error(), "500") {
		t.Errorf("Euler AddNoise at a timestep outside its schedule: got %v", err)
	}
}

// testVectors returns a deterministic clean sample and noise.
func testVectors(n int) (x0, eps []float32) {
	x0, eps = make([]float32, n), make([]float32, n)
	for i := range x0 {
		x0[i] = float32(math.Sin(float64(i)*0.7) * 0.8)
		eps[i] = float32(math.Cos(float64(i)*1.3+0.2) * 1.1)
	}
	return x0, eps
}

func maxAbsDiff(a, b []float32) float64 {
	var d float64
	for i := range a {
		d = max(d, math.Abs(float64(a[i])-float64(b[i])))
	}
	return d
}

// Given the true noise, each deterministic step lands on the noised sample of the next
// timestep, and the predicted x0 is the clean sample.
func TestStepWithTrueNoiseFollowsForwardProcess(t *testing.T) {
	x0, eps := testVectors(64)
	for _, pred := range []string{PredictEpsilon, PredictV, PredictSample} {
		for _, k := range []Kind{KindDDIM, KindDDPM} {
			t.Run(string(k)+"/"+pred, func(t *testing.T) {
				cfg := withField(t, "prediction_type", fmt.Sprintf("%q", pred))
				off := false
				cfg.ClipSample = &off
				s, err := New(cfg, k)
				if err != nil {
					t.Fatal(err)
				}
				if err := s.SetTimesteps(20); err != nil {
					t.Fatal(err)
				}
				table := s.(interface {
					Velocity(sample, noise []float32, perSample int, timesteps []float64) ([]float32, error)
				})
				ts := s.Timesteps()
				for i, tt := range ts[:len(ts)-1] {
					xt, _ := s.AddNoise(x0, eps, len(x0), []float64{tt})
					var out []float32
					switch pred {
					case PredictEpsilon:
						out = eps
					case PredictSample:
						out = x0
					case PredictV:
						out, _ = table.Velocity(x0, eps, len(x0), []float64{tt})
					}
					var noise []float32
					if k == KindDDPM {
						noise = make([]float32, len(x0)) // zero noise: the posterior mean
					}
					res, err := s.Step(out, xt, i, noise)
					if err != nil {
						t.Fatal(err)
					}
					if d := maxAbsDiff(res.PredOriginalSample, x0); d > 2e-4 {
						t.Fatalf("step %d (t=%v): predicted x0 off by %.3g", i, tt, d)
					}
					if k == KindDDIM {
						want, _ := s.AddNoise(x0, eps, len(x0), []float64{ts[i+1]})
						if d := maxAbsDiff(res.PrevSample, want); d > 2e-4 {
							t.Fatalf("step %d (t=%v): x_prev off the forward process by %.3g", i, tt, d)
						}
					}
				}
			})
		}
	}
}

// Euler with the true noise moves x0 + sigma_i·eps to x0 + sigma_{i+1}·eps, ending at x0.
func TestEulerWithTrueNoiseReachesCleanSample(t *testing.T) {
	x0, eps := testVectors(64)
	for _, pred := range []string{PredictEpsilon, PredictV} {
		for _, spacing := range []string{SpacingLeading, SpacingTrailing, SpacingLinspace} {
			t.Run(pred+"/"+spacing, func(t *testing.T) {
				cfg := withField(t, "prediction_type", fmt.Sprintf("%q", pred))
				cfg.TimestepSpacing = &spacing
				e, err := NewEuler(cfg)
				if err != nil {
					t.Fatal(err)
				}
				if err := e.SetTimesteps(12); err != nil {
					t.Fatal(err)
				}
				sig := e.Sigmas()
				x, _ := e.AddNoise(x0, eps, len(x0), e.Timesteps()[:1])
				for i := range e.Timesteps() {
					out := eps
					if pred == PredictV {
						// v w.r.t. the scaled input: a = 1/(1+sigma²).
						a := 1 / (1 + sig[i]*sig[i])
						out = make([]float32, len(x0))
						for j := range out {
							out[j] = float32(math.Sqrt(a)*float64(eps[j]) - math.Sqrt(1-a)*float64(x0[j]))
						}
					}
					res, err := e.Step(out, x, i, nil)
					if err != nil {
						t.Fatal(err)
					}
					x = res.PrevSample
				}
				if d := maxAbsDiff(x, x0); d > 1e-4 {
					t.Errorf("after %d steps the sample is %.3g from x0", len(e.Timesteps()), d)
				}
				want := sig[0]
				if spacing == SpacingLeading {
					want = math.Sqrt(sig[0]*sig[0] + 1)
				}
				if got := e.InitNoiseSigma(); math.Abs(got-want) > 1e-5*want {
					t.Errorf("init_noise_sigma %v, want %v", got, want)
				}
			})
		}
	}
}

func TestEulerScaleModelInput(t *testing.T) {
	e := sdxl(t, KindEuler).(*Euler)
	if err := e.SetTimesteps(5); err != nil {
		t.Fatal(err)
	}
	x := []float32{1, -2, 3}
	got, err := e.ScaleModelInput(x, 1)
	if err != nil {
		t.Fatal(err)
	}
	s := e.Sigmas()[1]
	for i := range x {
		want := float64(x[i]) / math.Sqrt(s*s+1)
		if math.Abs(float64(got[i])-want) > 1e-6*math.Abs(want) {
			t.Errorf("scaled[%d] = %v, want %v", i, got[i], want)
		}
	}
	if x[0] != 1 {
		t.Error("ScaleModelInput modified its input")
	}
}

// DDPM's last leading step moves to abar = 1: its variance is clamped to 1e-20, so the
// noise contributes 1e-10 of itself; at timestep 0 there is no noise at all.
func TestDDPMNoiseUse(t *testing.T) {
	p := sdxl(t, KindDDPM)
	if err := p.SetTimesteps(10); err != nil {
		t.Fatal(err)
	}
	x0, eps := testVectors(16)
	big := make([]float32, 16)
	for i := range big {
		big[i] = 1e6
	}
	zero := make([]float32, 16)
	last := len(p.Timesteps()) - 1
	a, _ := p.Step(eps, x0, last, zero)
	b, _ := p.Step(eps, x0, last, big)
	if d := maxAbsDiff(a.PrevSample, b.PrevSample); d > 1e-3 || d == 0 {
		t.Errorf("last step: noise of 1e6 moved the sample by %v, want about 1e-4", d)
	}
	a, _ = p.Step(eps, x0, 0, zero)
	b, _ = p.Step(eps, x0, 0, big)
	if d := maxAbsDiff(a.PrevSample, b.PrevSample); d < 1e3 {
		t.Errorf("first step: noise of 1e6 moved the sample by only %v", d)
	}

	cfg := withField(t, "timestep_spacing", `"linspace"`)
	lin, err := NewDDPM(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := lin.SetTimesteps(5); err != nil {
		t.Fatal(err)
	}
	if lin.StepNeedsNoise(4) || !lin.StepNeedsNoise(3) {
		t.Errorf("linspace DDPM: StepNeedsNoise(4 at t=0)=%v, (3)=%v; want false, true", lin.StepNeedsNoise(4), lin.StepNeedsNoise(3))
	}
	if _, err := lin.Step(eps, x0, 4, nil); err != nil {
		t.Errorf("step at t=0 without noise: %v", err)
	}
}

func TestDDIMEta(t *testing.T) {
	d := sdxl(t, KindDDIM).(*DDIM)
	if err := d.SetTimesteps(10); err != nil {
		t.Fatal(err)
	}
	x0, eps := testVectors(16)
	if d.StepNeedsNoise(0) {
		t.Error("eta 0 needs noise")
	}
	det, _ := d.Step(eps, x0, 2, nil)
	d.Eta = 1
	if !d.StepNeedsNoise(0) {
		t.Error("eta 1 does not need noise")
	}
	if _, err := d.Step(eps, x0, 2, nil); err == nil {
		t.Error("eta 1 without noise accepted")
	}
	zero := make([]float32, 16)
	sto, err := d.Step(eps, x0, 2, zero)
	if err != nil {
		t.Fatal(err)
	}
	// With eta 1 part of the noise direction moves into the random term: with zero noise the
	// sample differs from the deterministic one.
	if maxAbsDiff(det.PrevSample, sto.PrevSample) == 0 {
		t.Error("eta changed nothing")
	}
}

func TestClipSample(t *testing.T) {
	d, err := NewDDIM(mustConfig(t, `{"beta_schedule": "scaled_linear", "beta_start": 0.00085, "beta_end": 0.012, "clip_sample_range": 0.5}`))
	if err != nil {
		t.Fatal(err)
	}
	if err := d.SetTimesteps(10); err != nil {
		t.Fatal(err)
	}
	x := []float32{5, -5, 0}
	res, err := d.Step([]float32{0, 0, 0}, x, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.PredOriginalSample[0] != 0.5 || res.PredOriginalSample[1] != -0.5 || res.PredOriginalSample[2] != 0 {
		t.Errorf("clipped x0 %v, want [0.5 -0.5 0]", res.PredOriginalSample)
	}
}

func TestBetaSchedules(t *testing.T) {
	for _, sched := range []string{"linear", "scaled_linear", "squaredcos_cap_v2"} {
		t.Run(sched, func(t *testing.T) {
			s, err := NewDDPM(withField(t, "beta_schedule", fmt.Sprintf("%q", sched)))
			if err != nil {
				t.Fatal(err)
			}
			acp := s.AlphasCumprod()
			for i := 1; i < len(acp); i++ {
				if !(acp[i] < acp[i-1]) || acp[i] <= 0 {
					t.Fatalf("abar not strictly decreasing and positive at %d: %v, %v", i, acp[i-1], acp[i])
				}
			}
			b := betas(s.s)
			switch sched {
			case "linear":
				if b[0] != float32(0.00085) || b[999] != float32(0.012) {
					t.Errorf("linear ends %v %v", b[0], b[999])
				}
			case "scaled_linear":
				if math.Abs(float64(b[0])-0.00085) > 1e-9 || math.Abs(float64(b[999])-0.012) > 1e-8 {
					t.Errorf("scaled_linear ends %v %v", b[0], b[999])
				}
			case "squaredcos_cap_v2":
				f := func(x float64) float64 { c := math.Cos((x + 0.008) / 1.008 * math.Pi / 2); return c * c }
				if want := float32(1 - f(0.001)/f(0)); b[0] != want || b[999] != 0.999 {
					t.Errorf("cosine betas [0]=%v [999]=%v, want %v and 0.999", b[0], b[999], want)
				}
			}
		})
	}
	tb, err := NewDDPM(mustConfig(t, `{"num_train_timesteps": 3, "trained_betas": [0.1, 0.2, 0.5]}`))
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprintf("%.6f", tb.AlphasCumprod()); got != "[0.900000 0.720000 0.360000]" {
		t.Errorf("trained betas abar %s", got)
	}
}

// linspaceFloat32 ends exactly on its end points for every length, including ones whose
// vectorised blocks end at different places.
func TestLinspaceEnds(t *testing.T) {
	for _, n := range []int{1, 2, 7, 15, 16, 17, 31, 32, 33, 1000, 1008} {
		v := linspaceFloat32(0.1, 0.7, n)
		if v[0] != float32(0.1) || (n > 1 && v[n-1] != float32(0.7)) {
			t.Errorf("n=%d: ends %v %v", n, v[0], v[n-1])
		}
		for i := 1; i < n; i++ {
			if !(v[i] > v[i-1]) {
				t.Fatalf("n=%d: not increasing at %d", n, i)
			}
		}
	}
}

func TestAddNoisePerSampleTimesteps(t *testing.T) {
	p := sdxl(t, KindDDPM)
	x0, eps := testVectors(6)
	got, err := p.AddNoise(x0, eps, 3, []float64{0, 999})
	if err != nil {
		t.Fatal(err)
	}
	acp := p.AlphasCumprod()
	for i := range x0 {
		ab := acp[0]
		if i >= 3 {
			ab = acp[999]
		}
		want := math.Sqrt(ab)*float64(x0[i]) + math.Sqrt(1-ab)*float64(eps[i])
		if math.Abs(float64(got[i])-want) > 1e-6 {
			t.Errorf("noised[%d] = %v, want %v", i, got[i], want)
		}
	}
}
