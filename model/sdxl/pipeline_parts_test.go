package sdxl

import (
	"slices"
	"testing"

	"github.com/latexblend/latexblend/model/diffusers"
)

func TestAddTimeIDs(t *testing.T) {
	pos := SizeConditioning{OriginalSize: [2]int{1024, 768}, CropsCoordsTopLeft: [2]int{10, 20}, TargetSize: [2]int{512, 256}}
	neg := SizeConditioning{}.resolved(64, 32)
	for _, c := range []struct {
		name     string
		guidance bool
		want     []float32
	}{
		{"guidance", true, []float32{64, 32, 0, 0, 64, 32, 64, 32, 0, 0, 64, 32, 1024, 768, 10, 20, 512, 256, 1024, 768, 10, 20, 512, 256}},
		{"no guidance", false, []float32{1024, 768, 10, 20, 512, 256, 1024, 768, 10, 20, 512, 256}},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := AddTimeIDs(pos, neg, 2, c.guidance)
			if s := got.Shape(); s[0] != len(c.want)/6 || s[1] != 6 {
				t.Fatalf("shape %v", s)
			}
			if d := got.Data().([]float32); !slices.Equal(d, c.want) {
				t.Errorf("time ids %v, want %v", d, c.want)
			}
		})
	}
	// Zero sizes default to the image's (height, width); set ones are kept.
	r := SizeConditioning{OriginalSize: [2]int{4096, 4096}}.resolved(1024, 768)
	if r.OriginalSize != [2]int{4096, 4096} || r.TargetSize != [2]int{1024, 768} || r.CropsCoordsTopLeft != [2]int{} {
		t.Errorf("resolved %+v", r)
	}
}

func TestApplyGuidance(t *testing.T) {
	got, err := applyGuidance([]float32{1, -2, 0.5, 3, 0, 1}, 5)
	if err != nil {
		t.Fatal(err)
	}
	// eps_u + 5·(eps_c − eps_u) per element: uncond (1, -2, 0.5), cond (3, 0, 1).
	if want := []float32{11, 8, 3}; !slices.Equal(got, want) {
		t.Errorf("guidance %v, want %v", got, want)
	}
	if _, err := applyGuidance([]float32{1, 2, 3}, 5); err == nil {
		t.Error("odd batch accepted")
	}
}

// TestSizeRules checks the size multiple and default size for SDXL base's UNet (three
// blocks, sample_size 128) with its VAE (factor 8), and for the tiny test model.
func TestSizeRules(t *testing.T) {
	for _, c := range []struct {
		name           string
		blocks, sample []int
		vaeFactor      int
		multiple, h, w int
	}{
		{"sdxl", []int{320, 640, 1280}, []int{128}, 8, 32, 1024, 1024},
		{"tiny", []int{32, 64}, []int{32}, 2, 4, 64, 64},
		{"sd1 non-square", []int{320, 640, 1280, 1280}, []int{96, 64}, 8, 64, 768, 512},
		{"no sample size", []int{320}, nil, 8, 8, 1024, 1024},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := &diffusers.UNetConfig{BlockOutChannels: c.blocks, SampleSize: c.sample}
			if m := sizeMultiple(cfg, c.vaeFactor); m != c.multiple {
				t.Errorf("size multiple %d, want %d", m, c.multiple)
			}
			if h, w := defaultSize(cfg, c.vaeFactor); h != c.h || w != c.w {
				t.Errorf("default size %dx%d, want %dx%d", h, w, c.h, c.w)
			}
		})
	}
}
