package blend

import (
	"context"
	"testing"

	"github.com/latexblend/latexblend/internal/goldentest"
	"github.com/latexblend/latexblend/model/sdxl"
)

// TestFixedModesNonSquare runs the fixed objective with guidance and rectification
// together on a non-square 64×96 image (latents 32×48, attention grid 16×24), with our
// own spectral clustering: the guidance steps record losses, the save step clusters the
// 16×24 grid into segments and the rectified result differs from replacement alone.
func TestFixedModesNonSquare(t *testing.T) {
	p := loadTiny(t)
	const prompt = "a dog wearing a sunglasses"
	concepts := []Concept{
		{ClassNoun: "dog", Entry: bankEntry(t, "latexblend_bank1", "dog")},
		{ClassNoun: "sunglasses", Entry: bankEntry(t, "latexblend_bank2", "sunglasses")},
	}
	run := func(o Options) ([]float32, *Blender) {
		b, err := New(Setup{UNet: p.UNet, Tokenizer: p.Prompt.Tokenizer, Identity: p.Identity, Prompt: prompt, Concepts: concepts, Options: o})
		if err != nil {
			t.Fatal(err)
		}
		res, err := p.Generate(context.Background(), sdxl.Request{
			Prompt: prompt, Steps: 4, GuidanceScale: 6, Height: 64, Width: 96, Seed: 5, SkipDecode: true, Hooks: b.Hooks(sdxl.Hooks{}),
		})
		if err != nil {
			t.Fatal(err)
		}
		return res.Latents.Data().([]float32), b
	}
	o := DefaultOptions()
	o.BlendingStart = 1
	replace, _ := run(o)
	o.Guidance, o.GuidanceSteps = true, 2
	o.Rectification, o.RectificationStart, o.KMeansInit = true, 0.75, 10
	both, b := run(o)
	if n := len(b.GuidanceLosses()); n != 2 {
		t.Errorf("%d guidance losses, want 2", n)
	}
	rs := b.rect
	if rs == nil || rs.top != (grid{16, 24}) || len(rs.clusters) != 1 || len(rs.clusters[0]) != 16*24 {
		t.Fatalf("rectification state %+v", rs)
	}
	segs := map[int]bool{}
	for _, l := range rs.clusters[0] {
		segs[l] = true
	}
	if len(segs) < 2 {
		t.Errorf("the clustering found %d segments", len(segs))
	}
	if e := goldentest.RelErr(both, replace); e < 1e-4 {
		t.Errorf("guidance + rectification changed the latents by only %.3g", e)
	}
	if md := b.Metadata(); md["objective"] != "fixed" || md["blend_mode"] != "replace+guidance+rectification" {
		t.Errorf("metadata %v", md)
	}
}
