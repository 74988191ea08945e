package sampler

import (
	"context"
	"slices"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/latexblend/latexblend/blend"
	"github.com/latexblend/latexblend/internal/goldentest"
	"github.com/latexblend/latexblend/model/sdxl"
	pb "github.com/latexblend/latexblend/proto/latexblend/v1"
)

// testPlan plans req on p with entries made up for its class nouns.
func testPlan(t *testing.T, p *sdxl.Pipeline, req *pb.GenerateRequest) *plan {
	t.Helper()
	var cs []*cachedConcept
	for i, b := range req.Concepts {
		e := randomEntry(t, p, b.ClassNoun, uint64(100+i)+uint64(len(b.Concept)))
		cs = append(cs, &cachedConcept{name: b.Concept, digest: "sha256:test", entry: e})
	}
	pl, err := planRequest(p, req, cs)
	if err != nil {
		t.Fatal(err)
	}
	return pl
}

// aloneLatents runs a plan through the pipeline with blend's own hooks: the reference
// path a batched row must reproduce.
func aloneLatents(t *testing.T, p *sdxl.Pipeline, pl *plan) []float32 {
	t.Helper()
	req := sdxl.Request{Prompt: pl.req.Prompt, NegativePrompt: pl.negative, Steps: pl.steps, GuidanceScale: pl.scale,
		Height: pl.height, Width: pl.width, Scheduler: pl.kind, NumImages: pl.images, Seed: pl.seed, SkipDecode: true}
	if pl.blender != nil {
		req.Hooks = pl.blender.Hooks(req.Hooks)
	}
	res, err := p.Generate(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	return res.Latents.Data().([]float32)
}

func TestBatchedLatentsEqualAlone(t *testing.T) {
	p := loadTiny(t)
	e := newEngine(p, nil)
	base := func(prompt string, seed uint64, concepts ...*pb.ConceptBinding) *pb.GenerateRequest {
		return &pb.GenerateRequest{Prompt: prompt, Concepts: concepts, Steps: 3, Seed: proto.Uint64(seed), Width: 32, Height: 32,
			Blend: &pb.BlendOptions{BlendingStart: proto.Float32(1)}}
	}
	cases := []struct {
		name string
		reqs []*pb.GenerateRequest
	}{
		{"different concepts and slots", []*pb.GenerateRequest{
			base("a dog wearing a sunglasses", 1, &pb.ConceptBinding{ClassNoun: "dog", Concept: "rex"}, &pb.ConceptBinding{ClassNoun: "sunglasses", Concept: "shades"}),
			base("photo of a cat on a beach", 2, &pb.ConceptBinding{ClassNoun: "cat", Concept: "tom"}),
			func() *pb.GenerateRequest {
				r := base("a dog in the snow", 3, &pb.ConceptBinding{ClassNoun: "dog", Concept: "fido"})
				r.NumImages = 2
				r.GuidanceScale = proto.Float32(3)
				return r
			}(),
		}},
		{"binding off, no guidance, late blending", []*pb.GenerateRequest{
			func() *pb.GenerateRequest {
				r := base("a dog wearing a sunglasses", 4, &pb.ConceptBinding{ClassNoun: "dog", Concept: "rex"})
				r.Blend = &pb.BlendOptions{DisableBinding: true, BlendingStart: proto.Float32(0.5)}
				return r
			}(),
			func() *pb.GenerateRequest {
				r := base("a red cat", 5, &pb.ConceptBinding{ClassNoun: "cat", Concept: "tom"})
				r.Blend = &pb.BlendOptions{DisableBinding: true}
				r.GuidanceScale = proto.Float32(1)
				return r
			}(),
		}},
		{"plain requests", []*pb.GenerateRequest{
			base("a dog", 6), base("a house by a lake", 7),
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var runs []*run
			for _, r := range tc.reqs {
				runs = append(runs, &run{plan: testPlan(t, p, r), ctx: context.Background()})
			}
			key := runs[0].plan.key()
			for _, r := range runs[1:] {
				if r.plan.key() != key {
					t.Fatalf("test requests do not share a batch key: %+v vs %+v", r.plan.key(), key)
				}
			}
			e.runBatch(context.Background(), runs)
			for i, r := range runs {
				if r.err != nil {
					t.Fatalf("request %d: %v", i, r.err)
				}
				want := aloneLatents(t, p, r.plan)
				got := r.latents.Data().([]float32)
				if d := goldentest.RelErr(got, want); d > 1e-5 {
					t.Errorf("request %d (%q): batched latents differ from the request alone by %.3g relative (limit 1e-5)", i, r.plan.req.Prompt, d)
				} else {
					t.Logf("request %d: relative difference %.3g", i, d)
				}
			}
		})
	}
}

// TestBatchChangesImages guards the test above: the concepts must actually change the
// latents, or equality would prove nothing.
func TestConceptsChangeLatents(t *testing.T) {
	p := loadTiny(t)
	with := testPlan(t, p, &pb.GenerateRequest{Prompt: "a dog wearing a sunglasses", Steps: 2, Seed: proto.Uint64(1), Width: 32, Height: 32,
		Concepts: []*pb.ConceptBinding{{ClassNoun: "dog", Concept: "rex"}}, Blend: &pb.BlendOptions{BlendingStart: proto.Float32(1)}})
	without := testPlan(t, p, &pb.GenerateRequest{Prompt: "a dog wearing a sunglasses", Steps: 2, Seed: proto.Uint64(1), Width: 32, Height: 32})
	e := newEngine(p, nil)
	a, b := &run{plan: with, ctx: context.Background()}, &run{plan: without, ctx: context.Background()}
	e.runBatch(context.Background(), []*run{a})
	e.runBatch(context.Background(), []*run{b})
	if a.err != nil || b.err != nil {
		t.Fatal(a.err, b.err)
	}
	if d := goldentest.RelErr(a.latents.Data().([]float32), b.latents.Data().([]float32)); d < 1e-3 {
		t.Fatalf("a concept changed the latents by only %.3g relative", d)
	}
}

// TestBatchedUsesPlaces: with entries holding per-place rows, the batched path writes
// each concept's place rows, as blend's own hooks do, and they differ from place 1's.
func TestBatchedUsesPlaces(t *testing.T) {
	p := loadTiny(t)
	req := &pb.GenerateRequest{Prompt: "a dog wearing a sunglasses", Steps: 3, Seed: proto.Uint64(9), Width: 32, Height: 32,
		Concepts: []*pb.ConceptBinding{{ClassNoun: "sunglasses", Concept: "shades"}, {ClassNoun: "dog", Concept: "rex"}},
		Blend:    &pb.BlendOptions{BlendingStart: proto.Float32(1)}}
	makePlan := func(disable bool) *plan {
		var cs []*cachedConcept
		for i, b := range req.Concepts {
			e := randomEntry(t, p, b.ClassNoun, uint64(200+i))
			e.Places = []map[string]blend.LayerKV{randomEntry(t, p, b.ClassNoun, uint64(300+i)).Layers}
			cs = append(cs, &cachedConcept{name: b.Concept, digest: "sha256:test", entry: e})
		}
		r := proto.Clone(req).(*pb.GenerateRequest)
		r.Blend.DisablePlaces = disable
		pl, err := planRequest(p, r, cs)
		if err != nil {
			t.Fatal(err)
		}
		return pl
	}
	e := newEngine(p, nil)
	batched := func(pl *plan) []float32 {
		r := &run{plan: pl, ctx: context.Background()}
		e.runBatch(context.Background(), []*run{r})
		if r.err != nil {
			t.Fatal(r.err)
		}
		return r.latents.Data().([]float32)
	}
	placed, first := makePlan(false), makePlan(true)
	if got := placed.blender.Places(); !slices.Equal(got, []int{2, 1}) {
		t.Fatalf("places %v, want [2 1] (the sunglasses come second)", got)
	}
	a, b := batched(placed), batched(first)
	if d := goldentest.RelErr(a, aloneLatents(t, p, placed)); d > 1e-5 {
		t.Errorf("per-place rows: batched latents differ from blend's hooks by %.3g relative", d)
	}
	if d := goldentest.RelErr(b, aloneLatents(t, p, first)); d > 1e-5 {
		t.Errorf("disable_places: batched latents differ from blend's hooks by %.3g relative", d)
	}
	if d := goldentest.RelErr(a, b); d < 1e-4 {
		t.Errorf("the place-2 rows changed the latents by only %.3g relative", d)
	}
}
