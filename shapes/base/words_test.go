package base

import (
	"context"
	"image"
	"slices"
	"testing"

	"gorgonia.org/tensor"

	"github.com/latexblend/latexblend/model/sdxl"
	"github.com/latexblend/latexblend/model/vae"
	"github.com/latexblend/latexblend/shapes"
	"github.com/latexblend/latexblend/shapes/judge"
)

// TestCommittedModelReadsWords gives the committed model the words of one prompt and
// the end-of-text and padding positions of another (same length) and asks the judge
// what it drew. LatexBlend edits the keys and values of words, so the model must take
// its content from the words: the words' class must win. A model trained without
// Config.TailSwap drew the other prompt's class instead.
func TestCommittedModelReadsWords(t *testing.T) {
	p, err := sdxl.Load(committedModel, sdxl.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	j, err := judge.Default()
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	const seeds = 4
	for _, tc := range []struct {
		words, tail          string
		wordClass, tailClass shapes.Class
	}{
		{"a photo of a red circle", "a photo of a green triangle", shapes.Circle, shapes.Triangle},
		{"a photo of a blue square", "a photo of a yellow star", shapes.Square, shapes.Star},
		{"a photo of a purple ring", "a photo of an orange cross", shapes.Ring, shapes.Cross},
	} {
		emb, err := p.Prompt.EncodePrompt(sdxl.PromptRequest{Prompts: []string{tc.words, tc.tail}})
		if err != nil {
			t.Fatal(err)
		}
		eos := slices.Index(emb.IDs[0], p.Prompt.Tokenizer.EOS())
		if eos2 := slices.Index(emb.IDs[1], p.Prompt.Tokenizer.EOS()); eos < 0 || eos != eos2 {
			t.Fatalf("%q and %q: end-of-text at %d and %d, want the same position", tc.words, tc.tail, eos, eos2)
		}
		ctx := emb.PromptEmbeds.Data().([]float32)
		per := len(ctx) / 2
		dim := per / len(emb.IDs[0])
		mixed := append(append([]float32(nil), ctx[:eos*dim]...), ctx[per+eos*dim:]...)
		res, err := p.Generate(context.Background(), sdxl.Request{Prompt: tc.words, Steps: 20, GuidanceScale: 5, NumImages: seeds,
			Hooks: sdxl.Hooks{BeforeStep: func(_ context.Context, s *sdxl.Step) (*tensor.Dense, error) {
				c := s.Cond.Context.Data().([]float32)
				for _, r := range s.Cond.ConditionalRows() {
					copy(c[r*per:(r+1)*per], mixed)
				}
				return nil, nil
			}}})
		if err != nil {
			t.Fatal(err)
		}
		imgs, err := vae.ToImages(res.Images)
		if err != nil {
			t.Fatal(err)
		}
		verdicts, err := j.Predict(toImages(imgs))
		if err != nil {
			t.Fatal(err)
		}
		words, tail := 0, 0
		for _, v := range verdicts {
			if v.HasClass(tc.wordClass) {
				words++
			}
			if v.HasClass(tc.tailClass) {
				tail++
			}
		}
		t.Logf("words %q, tail %q: the words' %s in %d of %d images, the tail's %s in %d", tc.words, tc.tail, tc.wordClass, words, seeds, tc.tailClass, tail)
		if words < seeds-1 || tail > 1 {
			t.Errorf("words %q with the tail of %q: the words' %s in %d of %d images, the tail's %s in %d; the model must draw what the words say",
				tc.words, tc.tail, tc.wordClass, words, seeds, tc.tailClass, tail)
		}
	}
}

func toImages[T image.Image](xs []T) []image.Image {
	out := make([]image.Image, len(xs))
	for i, x := range xs {
		out[i] = x
	}
	return out
}
