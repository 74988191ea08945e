package unet

import (
	"math"
	"testing"
)

// TestCountFLOPsSDXL reproduces spec §9: 6.76 TFLOP per evaluation at 1024² (conv 1.62,
// linear 4.35, self-attention 0.75, cross-attention 0.03), 1.59 at 512², 3.64 at 768².
func TestCountFLOPsSDXL(t *testing.T) {
	cfg := configFromJSON(t, sdxlConfig)
	f, err := CountFLOPs(cfg, 1, 128, 128, 77)
	if err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]struct{ got, want, tol float64 }{
		"total":  {f.Total(), 6.76e12, 0.005e12},
		"conv":   {f.Conv, 1.62e12, 0.005e12},
		"linear": {f.Linear, 4.35e12, 0.005e12},
		"self":   {f.SelfAttention, 0.75e12, 0.005e12},
		"cross":  {f.CrossAttention, 0.03e12, 0.005e12},
	} {
		if math.Abs(c.got-c.want) > c.tol {
			t.Errorf("%s: %.4g FLOP, spec says %.3g", name, c.got, c.want)
		}
	}
	for _, r := range []struct {
		px   int
		want float64
	}{{512, 1.59e12}, {768, 3.64e12}} {
		g, err := CountFLOPs(cfg, 1, r.px/8, r.px/8, 77)
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(g.Total()-r.want) > 0.005e12 {
			t.Errorf("%d²: %.4g FLOP, spec says %.3g", r.px, g.Total(), r.want)
		}
	}
	two, _ := CountFLOPs(cfg, 2, 128, 128, 77)
	if math.Abs(two.Total()-2*f.Total()) > 1 {
		t.Errorf("batch 2 = %.6g, want twice %.6g", two.Total(), f.Total())
	}
	if _, err := CountFLOPs(cfg, 0, 128, 128, 77); err == nil {
		t.Error("batch 0 accepted")
	}
}
