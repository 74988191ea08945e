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
	m, j := vaeAndJudge(t, filepath.Join(golden.Dir(t), "tiny-sdxl", "vae"))
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

// TestSceneCeilingCommittedVAE measures the scene ceiling of one- and two-concept
// prompts through the committed model's VAE: the rows hold each prompt's renders and
// reconstructions, every count is scored, and lone concepts survive the round trip
// (0.93 of them did when this was written).
func TestSceneCeilingCommittedVAE(t *testing.T) {
	m, j := vaeAndJudge(t, filepath.Join("..", "model", "vae"))
	prompts, err := ParsePrompts([]string{"checker-star", "dotted-square", "checker-star+dotted-square"})
	if err != nil {
		t.Fatal(err)
	}
	const n = 4
	c, err := MeasureSceneCeiling(m, j, prompts, n, 64)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Rows) != len(prompts) {
		t.Fatalf("%d grid rows, want one per prompt (%d)", len(c.Rows), len(prompts))
	}
	for i, row := range c.Rows {
		if len(row) != 2*n {
			t.Errorf("row %d has %d images, want %d renders and %d reconstructions", i, len(row), n, n)
		}
	}
	one, two := c.Scores[1], c.Scores[2]
	if one.Images != 2*n || one.Pairs != 2*n || two.Images != n || two.Pairs != 2*n {
		t.Errorf("scored %+v and %+v, want 8 one-concept images and 4 two-concept images", one, two)
	}
	if one.Fidelity < 0.75 {
		t.Errorf("one-concept scene ceiling %.2f, want at least 0.75", one.Fidelity)
	}
	if _, ok := c.Scores[3]; ok {
		t.Error("a three-concept score without three-concept prompts")
	}
}

// TestSceneCeilingRandomVAE: a random VAE's round trip leaves no concept to find, so
// the ceiling really is measured after the VAE.
func TestSceneCeilingRandomVAE(t *testing.T) {
	m, j := vaeAndJudge(t, filepath.Join(golden.Dir(t), "tiny-sdxl", "vae"))
	prompts, err := ParsePrompts([]string{"checker-star"})
	if err != nil {
		t.Fatal(err)
	}
	c, err := MeasureSceneCeiling(m, j, prompts, 4, 64)
	if err != nil {
		t.Fatal(err)
	}
	if f := c.Scores[1].Fidelity; f > 0.25 {
		t.Errorf("scene ceiling %.2f after a random VAE, want near 0", f)
	}
}

// vaeAndJudge loads the VAE folder dir and the committed judge, closed when t ends.
func vaeAndJudge(t *testing.T, dir string) (*vae.Model, *judge.Judge) {
	t.Helper()
	m, err := vae.Load(dir, "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	j, err := judge.Default()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { j.Close() })
	return m, j
}
