package blend

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/latexblend/latexblend/internal/goldentest"
	"github.com/latexblend/latexblend/model/sdxl"
	"github.com/latexblend/latexblend/model/unet"
)

func generate(t *testing.T, p *sdxl.Pipeline, prompt string, steps int, hooks sdxl.Hooks) []float32 {
	t.Helper()
	res, err := p.Generate(context.Background(), sdxl.Request{
		Prompt: prompt, Steps: steps, GuidanceScale: 6, Height: 64, Width: 64, Seed: 11, SkipDecode: true, Hooks: hooks,
	})
	if err != nil {
		t.Fatal(err)
	}
	return res.Latents.Data().([]float32)
}

// TestZeroConceptsBitwise: a blender without concepts leaves the generation exactly
// the plain pipeline's.
func TestZeroConceptsBitwise(t *testing.T) {
	p := loadTiny(t)
	b, err := New(Setup{UNet: p.UNet, Tokenizer: p.Prompt.Tokenizer, Prompt: "a dog wearing a sunglasses", Options: DefaultOptions()})
	if err != nil {
		t.Fatal(err)
	}
	plain := generate(t, p, "a dog wearing a sunglasses", 3, sdxl.Hooks{})
	got := generate(t, p, "a dog wearing a sunglasses", 3, b.Hooks(sdxl.Hooks{}))
	if !slices.Equal(plain, got) {
		t.Error("zero concepts changed the output")
	}
}

// ownRowsEntry reads the prompt's own conditional K/V of every attn2 at slot s (through
// the same guidance-batched projection the pipeline runs) and packs them as an entry.
func ownRowsEntry(t *testing.T, p *sdxl.Pipeline, prompt string, s Slot) *Entry {
	t.Helper()
	emb, err := p.Prompt.EncodePrompt(sdxl.PromptRequest{Prompts: []string{prompt}, Guidance: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx, pooled, err := emb.GuidanceBatch()
	if err != nil {
		t.Fatal(err)
	}
	size := sdxl.SizeConditioning{OriginalSize: [2]int{64, 64}, TargetSize: [2]int{64, 64}}
	mods := p.UNet.CrossAttentionModules()
	out, err := p.UNet.Forward(context.Background(), unet.Inputs{
		Sample: dense(make([]float32, 2*4*32*32), 2, 4, 32, 32), Timesteps: []float64{500},
		Context: ctx, TextEmbeds: pooled, TimeIDs: sdxl.AddTimeIDs(size, size, 1, true),
	}, unet.Options{Processor: &unet.Edits{ReadKV: mods}})
	if err != nil {
		t.Fatal(err)
	}
	e := &Entry{ClassNoun: s.ClassNoun, NTok: s.Len(), Layers: map[string]LayerKV{}}
	for _, m := range mods {
		var l LayerKV
		for _, what := range []string{"k", "v"} {
			kv := out.Extra[m+"."+what]
			sh := kv.Shape() // [2, 77, C]
			c := sh[2]
			d := kv.Data().([]float32)
			rows := slices.Clone(d[(1*sh[1]+s.Start)*c : (1*sh[1]+s.End)*c])
			l.Channels = c
			if what == "k" {
				l.K = rows
			} else {
				l.V = rows
			}
		}
		e.Layers[m] = l
	}
	return e
}

// TestOwnRowsEntryBitwise: an entry holding the prompt's own K/V rows at its slot,
// with the bind trick off, leaves the output bit for bit unchanged; with the bind trick
// on (or another concept's rows) it changes.
func TestOwnRowsEntryBitwise(t *testing.T) {
	p := loadTiny(t)
	const prompt = "a dog wearing a sunglasses"
	slots, err := FindSlots(p.Prompt.Tokenizer, prompt, []string{"dog"})
	if err != nil {
		t.Fatal(err)
	}
	own := ownRowsEntry(t, p, prompt, slots[0])
	plain := generate(t, p, prompt, 3, sdxl.Hooks{})
	run := func(o Options, e *Entry) []float32 {
		b, err := New(Setup{UNet: p.UNet, Tokenizer: p.Prompt.Tokenizer, Identity: p.Identity, Prompt: prompt,
			Concepts: []Concept{{ClassNoun: "dog", Entry: e}}, Options: o})
		if err != nil {
			t.Fatal(err)
		}
		return generate(t, p, prompt, 3, b.Hooks(sdxl.Hooks{}))
	}
	o := DefaultOptions()
	o.NoBinding = true
	if got := run(o, own); !slices.Equal(got, plain) {
		t.Errorf("own rows without binding changed the output (rel err %.3g)", goldentest.RelErr(got, plain))
	}
	if got := run(DefaultOptions(), own); slices.Equal(got, plain) {
		t.Error("the bind trick had no effect")
	}
	if got := run(o, bankEntry(t, "latexblend_bank1", "dog")); goldentest.RelErr(got, plain) < 1e-4 {
		t.Errorf("a real concept entry barely changed the output (rel err %.3g)", goldentest.RelErr(got, plain))
	}
}

// TestPromptMismatch: a blender made for one prompt refuses a generation of another.
func TestPromptMismatch(t *testing.T) {
	p := loadTiny(t)
	b, err := New(Setup{UNet: p.UNet, Tokenizer: p.Prompt.Tokenizer, Prompt: "a dog wearing a sunglasses",
		Concepts: []Concept{{ClassNoun: "dog", Entry: bankEntry(t, "latexblend_bank1", "dog")}}, Options: DefaultOptions()})
	if err != nil {
		t.Fatal(err)
	}
	_, err = p.Generate(context.Background(), sdxl.Request{Prompt: "a dog on a sofa", Steps: 1, GuidanceScale: 6, Height: 64, Width: 64, SkipDecode: true, Hooks: b.Hooks(sdxl.Hooks{})})
	if err == nil || !strings.Contains(err.Error(), "not the prompt") {
		t.Errorf("error %v, want a prompt mismatch", err)
	}
}
