package blend

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/latexblend/latexblend/internal/goldentest"
	"github.com/latexblend/latexblend/model/sdxl"
)

// runGoldenInfer runs a golden latexblend_infer case in reference-compat mode and
// returns the per-step latents and the blender.
func runGoldenInfer(t *testing.T, name string, opts Options, clusters [][]int) (map[int][]float32, []float32, *Blender) {
	t.Helper()
	p := loadTiny(t)
	ref := goldentest.Case(t, name)
	init, shape := goldentest.F32(t, ref, "initial_latents")
	b, err := New(Setup{
		UNet: p.UNet, Tokenizer: p.Prompt.Tokenizer, Identity: p.Identity,
		Prompt: "a dog wearing a sunglasses",
		Concepts: []Concept{
			{ClassNoun: "dog", Entry: bankEntry(t, "latexblend_bank1", "dog")},
			{ClassNoun: "sunglasses", Entry: bankEntry(t, "latexblend_bank2", "sunglasses")},
		},
		Options:  opts,
		Clusters: clusters,
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := b.Slots(); got[0].Start != 1 || got[0].End != 3 || got[1].Start != 4 || got[1].End != 6 {
		t.Fatalf("slots %+v, want dog [1,3) and sunglasses [4,6)", got)
	}
	steps := map[int][]float32{}
	res, err := p.Generate(context.Background(), sdxl.Request{
		Prompt: "a dog wearing a sunglasses", Steps: 10, GuidanceScale: 6, Height: 64, Width: 64,
		InitLatents: dense(init, shape...), SkipDecode: true,
		Hooks: b.Hooks(sdxl.Hooks{Progress: func(s *sdxl.Step) {
			steps[s.Index] = slices.Clone(s.Latents.Data().([]float32))
		}}),
	})
	if err != nil {
		t.Fatal(err)
	}
	return steps, res.Latents.Data().([]float32), b
}

// TestGoldenCasesDiffer makes sure the golden comparisons can fail: the rectified run
// differs from the plain one by far more than the tolerance.
func TestGoldenCasesDiffer(t *testing.T) {
	plain, _ := goldentest.F32(t, goldentest.Case(t, "latexblend_infer_plain"), "final_latents")
	rect, _ := goldentest.F32(t, goldentest.Case(t, "latexblend_infer_rectification"), "final_latents")
	if e := goldentest.RelErr(rect, plain); e < 2*tolPipeline {
		t.Errorf("rectified and plain final latents differ by only %.3g", e)
	} else {
		t.Logf("rectified vs plain final latents: %.3g", e)
	}
}

func compatOptions() Options {
	o := DefaultOptions()
	o.ReferenceCompat = true
	return o
}

func checkSteps(t *testing.T, name string, steps map[int][]float32, final []float32, skip map[int]bool) {
	t.Helper()
	ref := goldentest.Case(t, name)
	for i := 0; i < 10; i++ {
		if skip[i] {
			continue
		}
		want, _ := goldentest.F32(t, ref, fmt.Sprintf("latents_step%d", i))
		e := goldentest.RelErr(steps[i], want)
		t.Logf("%s latents_step%d: rel err %.3g", name, i, e)
		if e > tolPipeline {
			t.Errorf("%s latents_step%d: rel err %.3g > %g", name, i, e, tolPipeline)
		}
	}
	want, _ := goldentest.F32(t, ref, "final_latents")
	if e := goldentest.RelErr(final, want); e > tolPipeline {
		t.Errorf("%s final_latents: rel err %.3g > %g", name, e, tolPipeline)
	}
}

// TestGoldenInferPlain: replacement + bind trick, blending from t=801 on (step 0 at
// t=901 runs the plain prompt), per-step latents within 5e-4.
func TestGoldenInferPlain(t *testing.T) {
	steps, final, _ := runGoldenInfer(t, "latexblend_infer_plain", compatOptions(), nil)
	checkSteps(t, "latexblend_infer_plain", steps, final, nil)
}

// TestGoldenInferGuidance: blending guidance for the first 3 steps (stepsize 1,
// unscaled latents, last concept's positive term only) on top of replacement.
func TestGoldenInferGuidance(t *testing.T) {
	o := compatOptions()
	o.Guidance, o.GuidanceSteps, o.GuidanceStepsize = true, 3, 1
	steps, final, b := runGoldenInfer(t, "latexblend_infer_guidance", o, nil)
	ref := goldentest.Case(t, "latexblend_infer_guidance")
	losses := b.GuidanceLosses()
	if len(losses) != 3 {
		t.Fatalf("%d guidance losses, want 3", len(losses))
	}
	for i, l := range losses {
		want, _ := goldentest.F32(t, ref, fmt.Sprintf("guidance.loss_step%d", i))
		e := goldentest.RelErr([]float32{float32(l)}, want)
		t.Logf("guidance loss step %d: %.6g (reference %.6g, rel err %.3g)", i, l, want[0], e)
		if e > tolGrad {
			t.Errorf("guidance loss step %d: %.6g, reference %.6g", i, l, want[0])
		}
	}
	for i, g := range b.GuidanceGrads() {
		want, _ := goldentest.F32(t, ref, fmt.Sprintf("guidance.grad_step%d", i))
		e := goldentest.RelErr(g, want)
		t.Logf("guidance grad step %d: rel err %.3g", i, e)
		if e > tolGrad {
			t.Errorf("guidance grad step %d: rel err %.3g > %g", i, e, tolGrad)
		}
	}
	checkSteps(t, "latexblend_infer_guidance", steps, final, nil)
}

// TestGoldenInferRectification: attention saved at step 1 (blending off there), the
// reference's clusters fed in (sklearn's k-means stream cannot be reproduced), token
// maps and rectified steps 2… compared. The reference's callback reports the save step
// as index 0 (its loop variable is reused), so latents_step0 holds step 1's latents and
// step 0 is not in the file.
func TestGoldenInferRectification(t *testing.T) {
	ref := goldentest.Case(t, "latexblend_infer_rectification")
	cl, _, err := ref.Int64("rect.clusters")
	if err != nil {
		t.Fatal(err)
	}
	clusters := make([]int, len(cl))
	for i, v := range cl {
		clusters[i] = int(v)
	}
	o := compatOptions()
	o.Rectification, o.RectificationStart = true, 0.85
	steps, final, b := runGoldenInfer(t, "latexblend_infer_rectification", o, [][]int{clusters})
	rs := b.rect
	if rs == nil {
		t.Fatal("no rectification state after the run")
	}
	for c := 0; c < 3; c++ {
		want, _ := goldentest.F32(t, ref, fmt.Sprintf("rect.token_map_%d", c))
		if e := goldentest.RelErr(rs.tokenMaps[0][c], want); e > 1e-6 {
			t.Errorf("token map %d: rel err %.3g", c, e)
		}
	}
	want0, _ := goldentest.F32(t, ref, "latents_step0")
	t.Logf("latents_step0 vs our step 1: rel err %.3g", goldentest.RelErr(steps[1], want0))
	if e := goldentest.RelErr(steps[1], want0); e > tolPipeline {
		t.Errorf("save step latents (reference latents_step0): rel err %.3g", e)
	}
	checkSteps(t, "latexblend_infer_rectification", steps, final, map[int]bool{0: true, 1: true})
}
