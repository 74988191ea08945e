package nn

import (
	"math"
	"testing"

	"gorgonia.org/tensor"
)

// TestAdamWMatchesHandComputedSteps follows torch.optim.AdamW for two steps on one value.
func TestAdamWMatchesHandComputedSteps(t *testing.T) {
	ps := NewParams(tensor.Float64)
	p := ps.New("w", 1)
	p.Value.Data().([]float64)[0] = 1
	ps.SetTrainable(func(string) bool { return true })
	opt := NewAdamW(0.1, 0.01)
	grads := []float64{0.5, -0.25}
	w, m, v := 1.0, 0.0, 0.0
	for step, g := range grads {
		p.Grad.Data().([]float64)[0] = g
		if err := opt.Step(ps.Trainable()); err != nil {
			t.Fatal(err)
		}
		k := float64(step + 1)
		w *= 1 - 0.1*0.01
		m = 0.9*m + 0.1*g
		v = 0.999*v + 0.001*g*g
		w -= 0.1 * (m / (1 - math.Pow(0.9, k))) / (math.Sqrt(v/(1-math.Pow(0.999, k))) + 1e-8)
		if got := p.Value.Data().([]float64)[0]; math.Abs(got-w) > 1e-12 {
			t.Fatalf("after step %d: w = %.15g, want %.15g", step+1, got, w)
		}
	}
	if opt.Steps() != 2 {
		t.Fatalf("Steps() = %d", opt.Steps())
	}
	frozen := ps.New("frozen", 1)
	if err := opt.Step([]*Param{frozen}); err == nil {
		t.Fatal("a parameter without a gradient was accepted")
	}
}
