package sdxl

import (
	"slices"
	"testing"
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
