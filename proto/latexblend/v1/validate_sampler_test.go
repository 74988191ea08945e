package latexblendv1

import (
	"errors"
	"math"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"
)

// validGenerate is a request that passes validation; each case breaks one thing.
func validGenerate() *GenerateRequest {
	return &GenerateRequest{
		Prompt:         "a dog wearing a sunglasses",
		NegativePrompt: "blurry",
		Concepts: []*ConceptBinding{
			{ClassNoun: "dog", Concept: "mydog"},
			{ClassNoun: "sunglasses", Concept: "my-sg.v2"},
		},
		Blend: &BlendOptions{
			BlendingStart:     proto.Float32(0.9),
			BlendingGuidance:  &BlendingGuidance{Enabled: true, GuidanceSteps: 20, GuidanceStepsize: 1},
			SelfRectification: &SelfRectification{Enabled: true, RectificationStart: 0.85, Strength: 2},
		},
		Steps:         50,
		GuidanceScale: proto.Float32(6),
		Seed:          proto.Uint64(42),
		Width:         1024,
		Height:        768,
		NumImages:     4,
		Scheduler:     Scheduler_SCHEDULER_EULER,
	}
}

func TestGenerateRequestValidate(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(r *GenerateRequest)
		want   string // substring of the error; "" means valid
	}{
		{"valid", func(r *GenerateRequest) {}, ""},
		{"zero values take defaults", func(r *GenerateRequest) {
			r.Steps, r.GuidanceScale, r.Seed, r.Width, r.Height, r.NumImages, r.Blend = 0, nil, nil, 0, 0, 0, nil
		}, ""},
		{"no concepts", func(r *GenerateRequest) { r.Concepts = nil }, ""},
		{"seed zero is a seed", func(r *GenerateRequest) { r.Seed = proto.Uint64(0) }, ""},
		{"multi-word noun, other case and spacing", func(r *GenerateRequest) {
			r.Prompt = "A Teddy   Bear on a table"
			r.Concepts = []*ConceptBinding{{ClassNoun: "teddy bear", Concept: "ted"}}
		}, ""},
		{"empty prompt", func(r *GenerateRequest) { r.Prompt = "  " }, `prompt: must not be empty`},
		{"long prompt", func(r *GenerateRequest) { r.Prompt = "dog sunglasses " + strings.Repeat("x", MaxPromptBytes) },
			`prompt: must be at most 1024 bytes, got 1039`},
		{"long negative prompt", func(r *GenerateRequest) { r.NegativePrompt = strings.Repeat("x", MaxPromptBytes+1) },
			`negative_prompt: must be at most 1024 bytes, got 1025`},
		{"steps negative", func(r *GenerateRequest) { r.Steps = -1 },
			`steps: must be in 1..1000 (or 0 for the default 50), got -1`},
		{"steps too many", func(r *GenerateRequest) { r.Steps = 1001 },
			`steps: must be in 1..1000 (or 0 for the default 50), got 1001`},
		{"cfg negative", func(r *GenerateRequest) { r.GuidanceScale = proto.Float32(-1) },
			`guidance_scale: must be a number in [0, 100], got -1`},
		{"cfg NaN", func(r *GenerateRequest) { r.GuidanceScale = proto.Float32(float32(math.NaN())) },
			`guidance_scale: must be a number in [0, 100], got NaN`},
		{"width not a multiple", func(r *GenerateRequest) { r.Width = 1001 },
			`width: must be a multiple of 8 in 16..2048 (or 0 for the model's native size), got 1001`},
		{"height too large", func(r *GenerateRequest) { r.Height = 4096 },
			`height: must be a multiple of 8 in 16..2048 (or 0 for the model's native size), got 4096`},
		{"height too small", func(r *GenerateRequest) { r.Height = 8 }, `height: must be a multiple of 8 in 16..2048`},
		{"too many images", func(r *GenerateRequest) { r.NumImages = MaxImages + 1 },
			`num_images: must be in 1..16 (or 0 for 1 image), got 17`},
		{"unknown scheduler", func(r *GenerateRequest) { r.Scheduler = 9 }, `scheduler: unknown value 9`},
		{"noun absent", func(r *GenerateRequest) { r.Concepts[1].ClassNoun = "cat" },
			`concepts[1].class_noun: "cat" does not appear in the prompt "a dog wearing a sunglasses"`},
		{"bad noun", func(r *GenerateRequest) { r.Concepts[0].ClassNoun = "dog/../x" },
			`concepts[0].class_noun: "dog/../x" contains '/'`},
		{"empty noun", func(r *GenerateRequest) { r.Concepts[0].ClassNoun = "" },
			`concepts[0].class_noun: must not be empty`},
		{"same noun twice", func(r *GenerateRequest) { r.Concepts[1].ClassNoun = "dog" },
			`concepts[1].class_noun: "dog" is already bound by concepts[0]`},
		{"same concept twice", func(r *GenerateRequest) { r.Concepts[1].Concept = "mydog" },
			`concepts[1].concept: "mydog" is already used by concepts[0]`},
		{"bad concept name", func(r *GenerateRequest) { r.Concepts[0].Concept = "../etc" },
			`concepts[0].concept: "../etc" is not a valid concept name`},
		{"too many concepts", func(r *GenerateRequest) {
			r.Concepts = nil
			for i := range MaxConcepts + 1 {
				r.Concepts = append(r.Concepts, &ConceptBinding{ClassNoun: "dog", Concept: "c" + string(rune('a'+i))})
			}
		}, `concepts: at most 16 concepts per request, got 17`},
		{"blending_start above 1", func(r *GenerateRequest) { r.Blend.BlendingStart = proto.Float32(1.5) },
			`blend.blending_start: must be a number in [0, 1], got 1.5`},
		{"blending_start 0 means never", func(r *GenerateRequest) { r.Blend.BlendingStart = proto.Float32(0) }, ""},
		{"guidance steps beyond steps", func(r *GenerateRequest) { r.Blend.BlendingGuidance.GuidanceSteps = 51 },
			`blend.blending_guidance.guidance_steps: must be in 1..50 (the request's steps; or 0 for the default 20), got 51`},
		{"guidance steps beyond default steps", func(r *GenerateRequest) {
			r.Steps = 0
			r.Blend.BlendingGuidance.GuidanceSteps = 60
		}, `guidance_steps: must be in 1..50`},
		{"guidance stepsize negative", func(r *GenerateRequest) { r.Blend.BlendingGuidance.GuidanceStepsize = -0.5 },
			`blend.blending_guidance.guidance_stepsize: must be a number in [0, 100], got -0.5`},
		{"guidance stepsize infinite", func(r *GenerateRequest) {
			r.Blend.BlendingGuidance.GuidanceStepsize = float32(math.Inf(1))
		}, `guidance_stepsize: must be a number in [0, 100], got +Inf`},
		{"rectification start above 1", func(r *GenerateRequest) { r.Blend.SelfRectification.RectificationStart = 2 },
			`blend.self_rectification.rectification_start: must be a number in [0, 1], got 2`},
		{"rectification strength", func(r *GenerateRequest) { r.Blend.SelfRectification.Strength = 101 },
			`blend.self_rectification.strength: must be a number in [0, 100], got 101`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := validGenerate()
			tc.mutate(r)
			err := r.Validate()
			checkValidation(t, err, tc.want)
			if tc.want != "" {
				// ValidateAll reports the same problem among all of them.
				checkValidation(t, r.ValidateAll(), tc.want)
			} else if err := r.ValidateAll(); err != nil {
				t.Fatalf("ValidateAll: %v", err)
			}
		})
	}
}

func TestGenerateRequestValidateAllReportsEveryField(t *testing.T) {
	r := validGenerate()
	r.Steps = -3
	r.Width = 7
	r.Concepts[0].Concept = "Bad Name"
	first := r.Validate()
	var fe *FieldError
	if !errors.As(first, &fe) || fe.Field != "concepts[0].concept" {
		t.Fatalf("Validate = %v, want the first bad field concepts[0].concept as a *FieldError", first)
	}
	all := r.ValidateAll().Error()
	for _, want := range []string{"concepts[0].concept:", "steps: must be in", "width: must be a multiple"} {
		if !strings.Contains(all, want) {
			t.Errorf("ValidateAll = %q, missing %q", all, want)
		}
	}
}

func TestNilGenerateRequest(t *testing.T) {
	var r *GenerateRequest
	checkValidation(t, r.Validate(), "request: must not be empty")
}

// checkValidation fails unless err matches want ("" means no error).
func checkValidation(t *testing.T, err error, want string) {
	t.Helper()
	if want == "" {
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		return
	}
	if err == nil {
		t.Fatalf("no error, want one containing %q", want)
	}
	if !strings.Contains(err.Error(), want) {
		t.Fatalf("error %q does not contain %q", err, want)
	}
}
