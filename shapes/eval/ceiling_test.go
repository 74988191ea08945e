package eval

import (
	"path/filepath"
	"testing"

	"github.com/latexblend/latexblend/internal/golden"
	"github.com/latexblend/latexblend/model/vae"
	"github.com/latexblend/latexblend/shapes/judge"
)

// TestCeilingGolden measures the ceiling of one concept through the golden tiny model's
// VAE (random weights): the judge finds the concept on its own renders, and the
// round trip through a random VAE destroys it.
func TestCeilingGolden(t *testing.T) {
	m, err := vae.Load(filepath.Join(golden.Dir(t), "tiny-sdxl", "vae"), "")
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	j, err := judge.Default()
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	c, err := MeasureCeiling(m, j, Concepts()[:1], 4, 64)
	if err != nil {
		t.Fatal(err)
	}
	if c.Images != 4 {
		t.Errorf("%d images, want 4", c.Images)
	}
	if c.JudgeRecall < 0.75 {
		t.Errorf("judge recall %.2f on the checker-star renders, want at least 0.75", c.JudgeRecall)
	}
	if c.VAERecall > 0.25 {
		t.Errorf("recall %.2f after a random VAE, want near 0", c.VAERecall)
	}
}
