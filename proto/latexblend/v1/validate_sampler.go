package latexblendv1

import (
	"fmt"
	"strings"
)

// Validate reports the first problem of the request (nil if none), as a *FieldError.
func (r *GenerateRequest) Validate() error { return r.validate().first() }

// ValidateAll reports every problem of the request, joined.
func (r *GenerateRequest) ValidateAll() error { return r.validate().all() }

func (r *GenerateRequest) validate() *fieldErrors {
	f := &fieldErrors{}
	if r == nil {
		f.add("request", "must not be empty")
		return f
	}
	if strings.TrimSpace(r.GetPrompt()) == "" {
		f.add("prompt", "must not be empty")
	}
	f.maxBytes("prompt", r.GetPrompt(), MaxPromptBytes)
	f.maxBytes("negative_prompt", r.GetNegativePrompt(), MaxPromptBytes)
	r.validateConcepts(f)
	f.intIn("steps", int64(r.GetSteps()), 1, MaxSteps, fmt.Sprintf("the default %d", DefaultSteps))
	if r.GuidanceScale != nil {
		f.floatIn("guidance_scale", r.GetGuidanceScale(), 0, MaxGuidanceScale)
	}
	size := fmt.Sprintf("%d..%d", MinSize, MaxSize)
	for _, d := range []struct {
		field string
		v     int32
	}{{"width", r.GetWidth()}, {"height", r.GetHeight()}} {
		if d.v != 0 && (d.v < MinSize || d.v > MaxSize || d.v%SizeMultiple != 0) {
			f.add(d.field, "must be a multiple of %d in %s (or 0 for the model's native size), got %d", SizeMultiple, size, d.v)
		}
	}
	f.intIn("num_images", int64(r.GetNumImages()), 1, MaxImages, "1 image")
	if _, ok := Scheduler_name[int32(r.GetScheduler())]; !ok {
		f.add("scheduler", "unknown value %d", r.GetScheduler())
	}
	r.GetBlend().validate(f, r.resolvedSteps())
	return f
}

func (r *GenerateRequest) validateConcepts(f *fieldErrors) {
	cs := r.GetConcepts()
	if len(cs) > MaxConcepts {
		f.add("concepts", "at most %d concepts per request, got %d", MaxConcepts, len(cs))
	}
	prompt := foldText(r.GetPrompt())
	nounAt := map[string]int{}
	conceptAt := map[string]int{}
	for i, c := range cs {
		field := fmt.Sprintf("concepts[%d]", i)
		noun, name := c.GetClassNoun(), c.GetConcept()
		if err := CheckClassNoun(noun); err != nil {
			f.check(field+".class_noun", err)
		} else if j, dup := nounAt[foldText(noun)]; dup {
			f.add(field+".class_noun", "%q is already bound by concepts[%d]", noun, j)
		} else {
			nounAt[foldText(noun)] = i
			// A quick check with a clear message; blend checks the exact token positions.
			if !strings.Contains(prompt, foldText(noun)) {
				f.add(field+".class_noun", "%q does not appear in the prompt %q", noun, r.GetPrompt())
			}
		}
		if err := CheckConceptName(name); err != nil {
			f.check(field+".concept", err)
		} else if j, dup := conceptAt[name]; dup {
			f.add(field+".concept", "%q is already used by concepts[%d]", name, j)
		} else {
			conceptAt[name] = i
		}
	}
}

// resolvedSteps is the number of denoising steps the request will run.
func (r *GenerateRequest) resolvedSteps() int32 {
	if r.GetSteps() == 0 {
		return DefaultSteps
	}
	return r.GetSteps()
}

func (b *BlendOptions) validate(f *fieldErrors, steps int32) {
	if b == nil {
		return
	}
	if b.BlendingStart != nil {
		f.floatIn("blend.blending_start", b.GetBlendingStart(), 0, 1)
	}
	if g := b.GetBlendingGuidance(); g != nil {
		if n := g.GetGuidanceSteps(); n != 0 && (n < 1 || n > steps) {
			f.add("blend.blending_guidance.guidance_steps", "must be in 1..%d (the request's steps; or 0 for the default %d), got %d", steps, DefaultGuidanceSteps, n)
		}
		f.floatIn("blend.blending_guidance.guidance_stepsize", g.GetGuidanceStepsize(), 0, MaxGuidanceStepsize)
	}
	if s := b.GetSelfRectification(); s != nil {
		f.floatIn("blend.self_rectification.rectification_start", s.GetRectificationStart(), 0, 1)
		f.floatIn("blend.self_rectification.strength", s.GetStrength(), 0, MaxRectificationStrength)
	}
}
