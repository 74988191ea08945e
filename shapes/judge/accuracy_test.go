package judge

import (
	"context"
	"image"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/latexblend/latexblend/shapes"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// committedWeights is the trained judge in the repository.
var committedWeights = filepath.Join("..", "assets", "judge.safetensors")

// TestCommittedJudgeAccuracy scores the committed weights on fresh held-out renders (a
// stream never trained on) and on the concept sets. The thresholds are the contract the
// evaluation relies on.
func TestCommittedJudgeAccuracy(t *testing.T) {
	j, err := Load(committedWeights)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	m, err := Evaluate(j, HeldOutSeed+17, 300)
	if err != nil {
		t.Fatal(err)
	}
	t.Log(m)
	if m.LabelAccuracy < 0.99 || m.MinLabelAccuracy < 0.97 {
		t.Errorf("label accuracy %.4f (worst %s %.4f), want ≥ 0.99 overall and ≥ 0.97 per label",
			m.LabelAccuracy, m.MinLabel, m.MinLabelAccuracy)
	}
	if m.ExactMatch < 0.95 {
		t.Errorf("exact match %.4f (classes %.4f, textures %.4f), want ≥ 0.95", m.ExactMatch, m.ClassExact, m.TextureExact)
	}
	recall, err := EvaluateConcepts(j)
	if err != nil {
		t.Fatal(err)
	}
	if recall < 0.95 {
		t.Errorf("concept recall on the concept sets %.4f, want ≥ 0.95", recall)
	}
}

// TestJudgeReadsOtherSizes checks that 32×32 and 128×128 renders of a scene are judged
// like the 64×64 one.
func TestJudgeReadsOtherSizes(t *testing.T) {
	j, err := Load(committedWeights)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	set, err := shapes.ConceptSet("checker-star", 4, 128)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := shapes.LookupConcept("checker-star")
	for _, s := range set {
		vs, err := j.Predict(imagesOf(shapes.MustRender(s.Scene, 128), shapes.MustRender(s.Scene, 64)))
		if err != nil {
			t.Fatal(err)
		}
		for i, v := range vs {
			if !v.ConceptFound(c) || !v.HasClass(shapes.Star) {
				t.Errorf("%s at size %d: judged %v", s.Name, []int{128, 64}[i], v.Present())
			}
		}
	}
}

func TestLoadRejectsBadFiles(t *testing.T) {
	dir := t.TempDir()
	if _, err := Load(filepath.Join(dir, "missing.safetensors")); err == nil {
		t.Fatal("loading a missing file succeeded")
	}
	net, err := NewNetwork()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "j.safetensors")
	if err := net.Save(path, map[string]string{"format": "something-else"}); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(path); err == nil || !strings.Contains(err.Error(), "format") {
		t.Fatalf("Load of a file with another format tag: err = %v", err)
	}
}

func TestTrainStopsOnCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	steps := 0
	_, err := Train(ctx, TrainConfig{Steps: 50, Batch: 2, Progress: func(int, float64) {
		steps++
		if steps == 2 {
			cancel()
		}
	}})
	if err == nil || steps > 4 {
		t.Fatalf("Train after cancel: err = %v after %d steps, want an error within a few steps", err, steps)
	}
}

func imagesOf(imgs ...*image.RGBA) []image.Image {
	out := make([]image.Image, len(imgs))
	for i, im := range imgs {
		out[i] = im
	}
	return out
}

// TestDefaultIsTheCommittedFile checks that the embedded weights are the committed file.
func TestDefaultIsTheCommittedFile(t *testing.T) {
	j, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	f, err := Load(committedWeights)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, name := range j.Network().Params.Names() {
		a := j.Network().Params.Get(name).Value.Data().([]float32)
		b := f.Network().Params.Get(name).Value.Data().([]float32)
		for i := range a {
			if a[i] != b[i] {
				t.Fatalf("%s[%d]: embedded %v, file %v", name, i, a[i], b[i])
			}
		}
	}
}
