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
	p, j := loadCommitted(t)
	const seeds = 4
	for _, tc := range []struct {
		words, tail          string
		wordClass, tailClass shapes.Class
	}{
		{"a photo of a red circle", "a photo of a green triangle", shapes.Circle, shapes.Triangle},
		{"a photo of a blue square", "a photo of a yellow star", shapes.Square, shapes.Star},
		{"a photo of a purple ring", "a photo of an orange cross", shapes.Ring, shapes.Cross},
	} {
		emb := encode(t, p, tc.words, tc.tail)
		eos := slices.Index(emb.IDs[0], p.Prompt.Tokenizer.EOS())
		if eos2 := slices.Index(emb.IDs[1], p.Prompt.Tokenizer.EOS()); eos < 0 || eos != eos2 {
			t.Fatalf("%q and %q: end-of-text at %d and %d, want the same position", tc.words, tc.tail, eos, eos2)
		}
		ctx := emb.PromptEmbeds.Data().([]float32)
		per := len(ctx) / 2
		dim := per / len(emb.IDs[0])
		mixed := append(append([]float32(nil), ctx[:eos*dim]...), ctx[per+eos*dim:]...)
		verdicts := drawWithContext(t, p, j, tc.words, mixed, seeds)
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

// TestCommittedModelReadsTextureWords is LatexBlend's situation with a perfect concept:
// the plain prompt "a photo of a star" keeps its pooled embedding, end-of-text and
// padding, and only its slot ("a star") gets the rows of "checkered star" from the
// prompt "a photo of checkered star", the way a concept entry is extracted. The model
// must draw the texture from those two rows. The previous model, which always saw its
// own pooled embedding in training, drew it in 1 of 32 images: it took the texture
// from the pooled embedding.
func TestCommittedModelReadsTextureWords(t *testing.T) {
	p, j := loadCommitted(t)
	found, plain := textureFromWords(t, p, j, 8)
	total, plainTotal := 0, 0
	for i, c := range shapes.Concepts {
		t.Logf("%s: the texture from the slot's words in %d of 8 images, from the plain prompt in %d", c.Name, found[i], plain[i])
		total += found[i]
		plainTotal += plain[i]
	}
	if total < minTextureFromWords || plainTotal > 2 {
		t.Errorf("the slot's words brought the concept's texture into %d of %d images (want at least %d); the plain prompt alone into %d (want at most 2)",
			total, 8*len(shapes.Concepts), minTextureFromWords, plainTotal)
	}
}

// minTextureFromWords is TestCommittedModelReadsTextureWords' bar over its 32 images.
const minTextureFromWords = 10

// textureFromWords counts, per shapes-world concept, the images of seeds in which the
// judge finds the concept when the plain prompt's slot holds the words of the textured
// one (found), and when nothing is changed (plain).
func textureFromWords(t *testing.T, p *sdxl.Pipeline, j *judge.Judge, seeds int) (found, plain []int) {
	t.Helper()
	for _, c := range shapes.Concepts {
		noun := c.Class.String()
		bare := "a photo of a " + noun
		textured := "a photo of " + shapes.TextureAdjective(c.Texture) + " " + noun
		emb := encode(t, p, bare, textured)
		ids := emb.IDs[0]
		slot := slices.Index(ids, p.Prompt.Tokenizer.EOS()) - 2 // "a", the noun, end-of-text
		if slot < 1 || !slices.Equal(ids[:slot], emb.IDs[1][:slot]) {
			t.Fatalf("%q and %q do not share their words before the slot at %d", bare, textured, slot)
		}
		ctx := emb.PromptEmbeds.Data().([]float32)
		per := len(ctx) / 2
		dim := per / len(ids)
		mixed := append([]float32(nil), ctx[:per]...)
		copy(mixed[slot*dim:(slot+2)*dim], ctx[per+slot*dim:per+(slot+2)*dim])
		count := func(vs []judge.Verdict) int {
			n := 0
			for _, v := range vs {
				if v.ConceptFound(c) {
					n++
				}
			}
			return n
		}
		found = append(found, count(drawWithContext(t, p, j, bare, mixed, seeds)))
		plain = append(plain, count(drawWithContext(t, p, j, bare, nil, seeds)))
	}
	return found, plain
}

// loadCommitted loads the committed model and the committed judge, closed when t ends.
func loadCommitted(t *testing.T) (*sdxl.Pipeline, *judge.Judge) {
	t.Helper()
	p, err := sdxl.Load(committedModel, sdxl.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	j, err := judge.Default()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { j.Close() })
	return p, j
}

func encode(t *testing.T, p *sdxl.Pipeline, prompts ...string) *sdxl.PromptEmbeds {
	t.Helper()
	emb, err := p.Prompt.EncodePrompt(sdxl.PromptRequest{Prompts: prompts})
	if err != nil {
		t.Fatal(err)
	}
	return emb
}

// drawWithContext generates seeds images of prompt (which gives the pooled embedding)
// with every conditional row's context replaced by ctx (nil: left alone), and returns
// the judge's verdicts.
func drawWithContext(t *testing.T, p *sdxl.Pipeline, j *judge.Judge, prompt string, ctx []float32, seeds int) []judge.Verdict {
	t.Helper()
	res, err := p.Generate(context.Background(), sdxl.Request{Prompt: prompt, Steps: 20, GuidanceScale: 5, NumImages: seeds,
		Hooks: sdxl.Hooks{BeforeStep: func(_ context.Context, s *sdxl.Step) (*tensor.Dense, error) {
			if ctx == nil {
				return nil, nil
			}
			c := s.Cond.Context.Data().([]float32)
			for _, r := range s.Cond.ConditionalRows() {
				copy(c[r*len(ctx):(r+1)*len(ctx)], ctx)
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
	return verdicts
}

func toImages[T image.Image](xs []T) []image.Image {
	out := make([]image.Image, len(xs))
	for i, x := range xs {
		out[i] = x
	}
	return out
}
