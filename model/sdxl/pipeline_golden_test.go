package sdxl

import (
	"context"
	"slices"
	"testing"

	"github.com/latexblend/latexblend/internal/goldentest"
)

// TestPipelineGolden runs golden cases/pipeline: StableDiffusionXLPipeline on tiny-sdxl,
// "a photo of a dog", 5 Euler steps, guidance 5.0, 64×64, explicit initial latents
// (which the pipeline multiplies by init_noise_sigma), no negative prompt (zeros, as
// force_zeros_for_empty_prompt says). Every step's latents, the final latents and the
// decoded [0,1] image must match within 5e-4 of the reference's largest magnitude.
func TestPipelineGolden(t *testing.T) {
	p := loadTinyPipeline(t)
	ref := openPipelineGolden(t)
	init, initShape := goldentest.F32(t, ref, "initial_latents")
	var steps [][]float32
	var stepT []float64
	res, err := p.Generate(context.Background(), Request{
		Prompt: "a photo of a dog", Steps: 5, GuidanceScale: 5, Height: 64, Width: 64,
		InitLatents: denseF32(init, initShape...),
		Hooks: Hooks{Progress: func(s *Step) {
			steps = append(steps, slices.Clone(f32Data(t, s.Latents)))
			stepT = append(stepT, s.Timestep)
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	wantT, _ := goldentest.F32(t, ref, "timesteps")
	if len(res.Timesteps) != len(wantT) {
		t.Fatalf("timesteps %v, want %v", res.Timesteps, wantT)
	}
	for i, w := range wantT {
		tw, _ := goldentest.F32(t, ref, "t_step"+string(rune('0'+i)))
		if res.Timesteps[i] != float64(w) || stepT[i] != float64(tw[0]) {
			t.Errorf("step %d: timestep %v (hook %v), want %v", i, res.Timesteps[i], stepT[i], w)
		}
	}
	if len(steps) != 5 {
		t.Fatalf("progress ran %d times, want 5", len(steps))
	}
	for i, got := range steps {
		name := "latents_step" + string(rune('0'+i))
		want, _ := goldentest.F32(t, ref, name)
		e := goldentest.RelErr(got, want)
		t.Logf("%s: rel err %.3g", name, e)
		if e > goldenPipelineTol {
			t.Errorf("%s: rel err %.3g > %g", name, e, goldenPipelineTol)
		}
	}
	want, wantShape := goldentest.F32(t, ref, "latents_out")
	if !slices.Equal([]int(res.Latents.Shape()), wantShape) {
		t.Fatalf("final latents %v, want %v", res.Latents.Shape(), wantShape)
	}
	if e := goldentest.RelErr(f32Data(t, res.Latents), want); e > goldenPipelineTol {
		t.Errorf("latents_out: rel err %.3g > %g", e, goldenPipelineTol)
	} else {
		t.Logf("latents_out: rel err %.3g", e)
	}
	img, err := ImagesUnit(res.Images)
	if err != nil {
		t.Fatal(err)
	}
	wantImg, wantImgShape := goldentest.F32(t, ref, "image_np")
	if len(img) != len(wantImg) || !slices.Equal(wantImgShape, []int{1, 64, 64, 3}) {
		t.Fatalf("image has %d values, want %v", len(img), wantImgShape)
	}
	if e := goldentest.RelErr(img, wantImg); e > goldenPipelineTol {
		t.Errorf("image_np: rel err %.3g > %g", e, goldenPipelineTol)
	} else {
		t.Logf("image_np: rel err %.3g", e)
	}
}
