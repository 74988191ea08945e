package latexblendv1

import (
	"testing"

	"google.golang.org/protobuf/proto"
)

func TestGenerateWithDefaults(t *testing.T) {
	d := GenerateDefaults{Width: 1024, Height: 1024, Seed: 99, Scheduler: Scheduler_SCHEDULER_EULER}
	cases := []struct {
		name  string
		in    *GenerateRequest
		check func(t *testing.T, out *GenerateRequest)
	}{
		{"plain request gets every default", &GenerateRequest{Prompt: "a dog"}, func(t *testing.T, out *GenerateRequest) {
			if out.GetSteps() != DefaultSteps || out.GetGuidanceScale() != DefaultGuidanceScale || out.GetSeed() != 99 ||
				out.GetWidth() != 1024 || out.GetHeight() != 1024 || out.GetNumImages() != 1 ||
				out.GetScheduler() != Scheduler_SCHEDULER_EULER {
				t.Errorf("defaults not filled: %v", out)
			}
			if out.Blend != nil {
				t.Errorf("blend options filled without concepts: %v", out.Blend)
			}
		}},
		{"explicit values are kept", validGenerate(), func(t *testing.T, out *GenerateRequest) {
			if !proto.Equal(out, validGenerate()) {
				t.Errorf("a fully specified request changed:\n got %v\nwant %v", out, validGenerate())
			}
		}},
		{"explicit zero seed and cfg are kept", &GenerateRequest{Prompt: "a dog", Seed: proto.Uint64(0), GuidanceScale: proto.Float32(0)},
			func(t *testing.T, out *GenerateRequest) {
				if out.GetSeed() != 0 || out.GetGuidanceScale() != 0 {
					t.Errorf("explicit zeros replaced: seed %d cfg %g", out.GetSeed(), out.GetGuidanceScale())
				}
			}},
		{"enabled options get their defaults, capped at steps", &GenerateRequest{Prompt: "a dog", Steps: 10,
			Concepts: []*ConceptBinding{{ClassNoun: "dog", Concept: "d"}},
			Blend:    &BlendOptions{BlendingGuidance: &BlendingGuidance{Enabled: true}, SelfRectification: &SelfRectification{Enabled: true}}},
			func(t *testing.T, out *GenerateRequest) {
				b := out.GetBlend()
				if b.GetBlendingStart() != DefaultBlendingStart || b.GetBlendingGuidance().GetGuidanceSteps() != 10 ||
					b.GetBlendingGuidance().GetGuidanceStepsize() != DefaultGuidanceStepsize ||
					b.GetSelfRectification().GetRectificationStart() != DefaultRectificationStart ||
					b.GetSelfRectification().GetStrength() != DefaultRectificationStrength {
					t.Errorf("blend defaults not filled: %v", b)
				}
			}},
		{"disabled options stay empty", &GenerateRequest{Prompt: "a dog",
			Concepts: []*ConceptBinding{{ClassNoun: "dog", Concept: "d"}}},
			func(t *testing.T, out *GenerateRequest) {
				b := out.GetBlend()
				if b.GetBlendingStart() != DefaultBlendingStart || b.BlendingGuidance != nil || b.SelfRectification != nil {
					t.Errorf("blend = %v, want only blending_start", b)
				}
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := proto.Clone(tc.in)
			out := tc.in.WithDefaults(d)
			if !proto.Equal(before, tc.in) {
				t.Fatalf("WithDefaults modified its receiver")
			}
			tc.check(t, out)
			if err := out.Validate(); err != nil {
				t.Errorf("the resolved request does not validate: %v", err)
			}
		})
	}
}

func TestMode(t *testing.T) {
	one := []*ConceptBinding{{ClassNoun: "dog", Concept: "d"}}
	cases := []struct {
		req  *GenerateRequest
		want string
	}{
		{&GenerateRequest{}, "plain"},
		{&GenerateRequest{Blend: &BlendOptions{BlendingGuidance: &BlendingGuidance{Enabled: true}}}, "plain"},
		{&GenerateRequest{Concepts: one}, "replace"},
		{&GenerateRequest{Concepts: one, Blend: &BlendOptions{BlendingGuidance: &BlendingGuidance{Enabled: true}}}, "replace+guidance"},
		{&GenerateRequest{Concepts: one, Blend: &BlendOptions{SelfRectification: &SelfRectification{Enabled: true}}}, "replace+rectification"},
		{validGenerate(), "replace+guidance+rectification"},
		{&GenerateRequest{Concepts: one, Blend: &BlendOptions{ReferenceCompat: true}}, "replace+reference-compat"},
	}
	for _, tc := range cases {
		if got := tc.req.Mode(); got != tc.want {
			t.Errorf("Mode(%v) = %q, want %q", tc.req, got, tc.want)
		}
	}
}

func TestConceptJobSpecWithDefaults(t *testing.T) {
	in := &ConceptJobSpec{ConceptName: "mydog", ClassNoun: "dog", Steps: 40}
	out := in.WithDefaults(512)
	if in.ModifierToken != "" {
		t.Fatal("WithDefaults modified its receiver")
	}
	want := &ConceptJobSpec{ConceptName: "mydog", ClassNoun: "dog", ModifierToken: "<new1>", InitToken: "ktn",
		Steps: 40, LearningRate: 1e-5, BatchSize: 1, Resolution: 512, Workers: 1, CheckpointEvery: 40,
		ExtractPrompt: "photo of <new1> dog"}
	if !proto.Equal(out, want) {
		t.Fatalf("WithDefaults:\n got %v\nwant %v", out, want)
	}
	if got := (&ConceptJobSpec{}).WithDefaults(0); got.Steps != DefaultTrainSteps || got.CheckpointEvery != DefaultCheckpointEvery {
		t.Fatalf("empty spec: steps %d checkpoint_every %d", got.Steps, got.CheckpointEvery)
	}
}
