package sdxl

import (
	"math"
	"slices"
	"testing"

	"gorgonia.org/tensor"

	"github.com/latexblend/latexblend/internal/golden"
	"github.com/latexblend/latexblend/internal/goldentest"
	"github.com/latexblend/latexblend/model/clip"
	"github.com/latexblend/latexblend/model/safetensors"
	"github.com/latexblend/latexblend/nn"
)

// goldenForwardTol is golden/README.md's tolerance for single forwards, relative to the
// reference tensor's largest magnitude.
const goldenForwardTol = 1e-4

func loadTinyPromptEncoder(t *testing.T) *PromptEncoder {
	t.Helper()
	p, err := LoadPromptEncoder(golden.Path(t, "tiny-sdxl"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// checkGolden compares got with the golden tensor name of f, shape and values.
func checkGolden(t *testing.T, f *safetensors.File, name string, got *tensor.Dense) {
	t.Helper()
	want, shape, err := f.Float32(name)
	if err != nil {
		t.Fatal(err)
	}
	if got == nil || !slices.Equal([]int(got.Shape()), shape) {
		t.Errorf("%s: got %v, reference shape %v", name, got, shape)
		return
	}
	if e := goldentest.RelErr(got.Data().([]float32), want); e > goldenForwardTol || math.IsNaN(e) {
		t.Errorf("%s: max|go-ref| = %.3g of max|ref|, tolerance %g", name, e, goldenForwardTol)
	} else {
		t.Logf("%s: max|go-ref|/max|ref| = %.2g", name, e)
	}
}

// TestGoldenEncodePrompt reproduces golden cases/text: encode_prompt of three prompts
// (the last one empty) with guidance and no negative prompt on tiny-sdxl, whose
// model_index.json sets force_zeros_for_empty_prompt.
func TestGoldenEncodePrompt(t *testing.T) {
	ref := goldentest.Case(t, "text.safetensors")
	p := loadTinyPromptEncoder(t)
	if !p.ForceZerosForEmptyPrompt {
		t.Fatal("tiny-sdxl sets force_zeros_for_empty_prompt, read false")
	}
	out, err := p.EncodePrompt(PromptRequest{
		Prompts:  []string{"a photo of a dog", "A painting of a castle, highly detailed", ""},
		Guidance: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		got  [][]int
	}{{"input_ids_1", out.IDs}, {"input_ids_2", out.IDs2}} {
		if want := goldentest.IDRows(t, ref, c.name); !slices.EqualFunc(c.got, want, slices.Equal) {
			t.Errorf("%s: %v, reference %v", c.name, c.got, want)
		}
	}
	checkGolden(t, ref, "prompt_embeds", out.PromptEmbeds)
	checkGolden(t, ref, "pooled_prompt_embeds", out.PooledPromptEmbeds)
	checkGolden(t, ref, "negative_prompt_embeds", out.NegativePromptEmbeds)
	checkGolden(t, ref, "negative_pooled_prompt_embeds", out.NegativePooledPromptEmbeds)
	for _, neg := range []*tensor.Dense{out.NegativePromptEmbeds, out.NegativePooledPromptEmbeds} {
		for _, v := range neg.Data().([]float32) {
			if v != 0 {
				t.Fatalf("negative embeddings hold %g, want exact zeros", v)
			}
		}
	}
	if s := out.PromptEmbeds.Shape(); !slices.Equal([]int(s), []int{3, 77, 64}) {
		t.Errorf("prompt_embeds %v, want [3 77 64] (32 + 32 features)", s)
	}
}

// TestGoldenAddedTokenPooling checks the argmax pooling quirk against the reference
// training step (golden cases/train_customdiffusion): with <new1> = 49408 added to both
// tokenizers and initialised from "ktn" (42170), the pooled embedding of
// "photo of <new1> dog" is taken at the <new1> position, not at EOS.
func TestGoldenAddedTokenPooling(t *testing.T) {
	ref := goldentest.Case(t, "train_customdiffusion.safetensors")
	p := loadTinyPromptEncoder(t)
	ids, err := p.AddTokens([]string{"<new1>"}, []string{"ktn"})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ids, []int{49408}) {
		t.Fatalf("<new1> got ids %v, want [49408]", ids)
	}
	// adamw.emb1_rows_before holds encoder 1's rows [<new1>, 42170, 1929] before the
	// reference's optimiser step: <new1> starts as an exact copy of "ktn".
	before, _, err := ref.Float32("adamw.emb1_rows_before")
	if err != nil {
		t.Fatal(err)
	}
	for i, id := range []int{49408, 42170} {
		got, err := p.TextEncoder.Model.TokenRow(id)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, before[i*32:(i+1)*32]) {
			t.Errorf("encoder 1 row %d differs from the reference's row before the step", id)
		}
	}
	new2, err := p.TextEncoder2.Model.TokenRow(49408)
	if err != nil {
		t.Fatal(err)
	}
	if ktn2, _ := p.TextEncoder2.Model.TokenRow(42170); !slices.Equal(new2, ktn2) {
		t.Error("encoder 2 row 49408 is not a copy of row 42170")
	}
	out, err := p.EncodePrompt(PromptRequest{Prompts: []string{"photo of <new1> dog", "dog"}})
	if err != nil {
		t.Fatal(err)
	}
	if want := goldentest.IDRows(t, ref, "input_ids_1"); !slices.EqualFunc(out.IDs, want, slices.Equal) {
		t.Fatalf("input_ids_1: %v, reference %v", out.IDs, want)
	}
	if want := goldentest.IDRows(t, ref, "input_ids_2"); !slices.EqualFunc(out.IDs2, want, slices.Equal) {
		t.Fatalf("input_ids_2: %v, reference %v", out.IDs2, want)
	}
	checkGolden(t, ref, "prompt_embeds", out.PromptEmbeds)
	checkGolden(t, ref, "pooled_prompt_embeds", out.PooledPromptEmbeds)

	// Pooling at EOS instead (position 5) would give a clearly different vector.
	enc, err := p.TextEncoder2.Encode(out.IDs2[:1])
	if err != nil {
		t.Fatal(err)
	}
	if enc.PooledPositions[0] != 3 {
		t.Fatalf("pooled at position %d, want 3 (<new1>)", enc.PooledPositions[0])
	}
	atEOS := project(t, p, enc.LastHiddenState, 5)
	want, _, err := ref.Float32("pooled_prompt_embeds")
	if err != nil {
		t.Fatal(err)
	}
	if e := goldentest.RelErr(atEOS, want[:len(atEOS)]); e < 100*goldenForwardTol {
		t.Errorf("EOS pooling is within %.2g of the reference: the test cannot tell the positions apart", e)
	}
}

// project computes text_projection · last[0, pos] on the host.
func project(t *testing.T, p *PromptEncoder, last *tensor.Dense, pos int) []float32 {
	t.Helper()
	w := p.TextEncoder2.Model.Projection.Weight.Value
	pd, d := w.Shape()[0], w.Shape()[1]
	x := last.Data().([]float32)[pos*d : (pos+1)*d]
	wd := w.Data().([]float32)
	out := make([]float32, pd)
	for i := range out {
		var s float64
		for j := 0; j < d; j++ {
			s += float64(wd[i*d+j]) * float64(x[j])
		}
		out[i] = float32(s)
	}
	return out
}

// TestGoldenPromptForward checks the in-graph conditioning (PromptForward, encoder 1
// stopped at its penultimate layer) against golden cases/text.
func TestGoldenPromptForward(t *testing.T) {
	ref := goldentest.Case(t, "text.safetensors")
	p := loadTinyPromptEncoder(t)
	ids1, ids2 := goldentest.IDRows(t, ref, "input_ids_1"), goldentest.IDRows(t, ref, "input_ids_2")
	idt1, err := clip.IDsTensor(tensor.Float32, ids1)
	if err != nil {
		t.Fatal(err)
	}
	idt2, err := clip.IDsTensor(tensor.Float32, ids2)
	if err != nil {
		t.Fatal(err)
	}
	sel2, err := clip.PoolSelectTensor(tensor.Float32, ids2)
	if err != nil {
		t.Fatal(err)
	}
	te1, te2 := p.TextEncoder.Model, p.TextEncoder2.Model
	prog := nn.NewProgram(te1.Params(), func(b *nn.Builder) error {
		i1, err := b.Input("ids1")
		if err != nil {
			return err
		}
		i2, err := b.Input("ids2")
		if err != nil {
			return err
		}
		s2, err := b.Input("sel2")
		if err != nil {
			return err
		}
		ctx, pooled, err := PromptForward(b, te1, te2, i1, i2, s2)
		if err != nil {
			return err
		}
		b.Output("ctx", ctx)
		b.Output("pooled", pooled)
		return nil
	}, nn.Hooks{})
	defer prog.Close()
	res, err := prog.Run(map[string]*tensor.Dense{"ids1": idt1, "ids2": idt2, "sel2": sel2})
	if err != nil {
		t.Fatal(err)
	}
	checkGolden(t, ref, "prompt_embeds", res.Outputs["ctx"])
	checkGolden(t, ref, "pooled_prompt_embeds", res.Outputs["pooled"])
}
