package unet

import (
	"context"
	"fmt"
	"sort"
	"testing"

	"github.com/latexblend/latexblend/internal/golden"
)

// TestGoldenTinyUNet runs the tiny SDXL UNet of ../shared/golden at t=500 and t=1
// (batch 2) and compares the output and every per-block activation with the
// reference within 1e-4 of each tensor's largest magnitude (golden/README.md).
func TestGoldenTinyUNet(t *testing.T) {
	m, err := Open(golden.Path(t, "tiny-sdxl"), "")
	if err != nil {
		t.Fatal(err)
	}
	defer m.Release()
	for _, tc := range []struct {
		name string
		t    float64
	}{{"unet_t500", 500}, {"unet_t1", 1}} {
		t.Run(tc.name, func(t *testing.T) {
			ref := readTensors(t, golden.Path(t, "cases", tc.name+".safetensors"))
			out, err := m.Forward(context.Background(), Inputs{
				Sample:     ref["sample"],
				Timesteps:  []float64{tc.t},
				Context:    ref["encoder_hidden_states"],
				TextEmbeds: ref["text_embeds"],
				TimeIDs:    ref["time_ids"],
			}, Options{Capture: true})
			if err != nil {
				t.Fatal(err)
			}
			got := out.Acts
			got["out"] = out.Sample
			var names []string
			for name := range ref {
				if name == "out" || len(name) > 4 && name[:4] == "act." {
					names = append(names, name)
				}
			}
			sort.Strings(names)
			if len(names) != 15 {
				t.Fatalf("golden case has %d outputs, want 15 (out + 14 act.*)", len(names))
			}
			for _, name := range names {
				g, ok := got[name]
				if !ok {
					t.Errorf("%s: not produced (have %d activations)", name, len(got))
					continue
				}
				if fmt.Sprint(g.Shape()) != fmt.Sprint(ref[name].Shape()) {
					t.Errorf("%s: shape %v, want %v", name, g.Shape(), ref[name].Shape())
					continue
				}
				rel := relDiff(g.Data().([]float32), ref[name].Data().([]float32))
				if rel > 1e-4 {
					t.Errorf("%s: max|Δ|/max|ref| = %.3g > 1e-4", name, rel)
				} else {
					t.Logf("%s: %.2g", name, rel)
				}
			}
		})
	}
}
