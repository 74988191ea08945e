package latexblendv1

import (
	"strings"

	"google.golang.org/protobuf/proto"
)

// GenerateDefaults are the model- and node-specific values WithDefaults fills in.
type GenerateDefaults struct {
	// Width and Height are the base model's native image size.
	Width, Height int32
	// Seed is used when the request has none (the sampler draws it at random).
	Seed uint64
	// Scheduler replaces SCHEDULER_UNSPECIFIED (the model's own scheduler).
	Scheduler Scheduler
}

// WithDefaults returns a copy of r with every default filled in: the request a sampler
// actually runs and reports in Done.request, so that sending it again reproduces the
// images. r is not modified. Blend parameters are filled only for the options that are
// enabled, and only when the request has concepts.
func (r *GenerateRequest) WithDefaults(d GenerateDefaults) *GenerateRequest {
	out := proto.Clone(r).(*GenerateRequest)
	out.Steps = r.resolvedSteps()
	if out.GuidanceScale == nil {
		out.GuidanceScale = proto.Float32(DefaultGuidanceScale)
	}
	if out.Seed == nil {
		out.Seed = proto.Uint64(d.Seed)
	}
	if out.Width == 0 {
		out.Width = d.Width
	}
	if out.Height == 0 {
		out.Height = d.Height
	}
	if out.NumImages == 0 {
		out.NumImages = 1
	}
	if out.Scheduler == Scheduler_SCHEDULER_UNSPECIFIED {
		out.Scheduler = d.Scheduler
	}
	if len(out.Concepts) == 0 {
		return out
	}
	if out.Blend == nil {
		out.Blend = &BlendOptions{}
	}
	b := out.Blend
	if b.BlendingStart == nil {
		b.BlendingStart = proto.Float32(DefaultBlendingStart)
	}
	if g := b.BlendingGuidance; g.GetEnabled() {
		if g.GuidanceSteps == 0 {
			g.GuidanceSteps = min(DefaultGuidanceSteps, out.Steps)
		}
		if g.GuidanceStepsize == 0 {
			g.GuidanceStepsize = DefaultGuidanceStepsize
		}
	}
	if s := b.SelfRectification; s.GetEnabled() {
		if s.RectificationStart == 0 {
			s.RectificationStart = DefaultRectificationStart
		}
		if s.Strength == 0 {
			s.Strength = DefaultRectificationStrength
		}
	}
	return out
}

// Mode names what the request runs: "plain" without concepts, else "replace" joined
// with "guidance" and "rectification" when enabled, and "reference-compat" when that is
// on, e.g. "replace+guidance+reference-compat". It is what Done.mode and the PNG
// metadata record.
func (r *GenerateRequest) Mode() string {
	if len(r.GetConcepts()) == 0 {
		return "plain"
	}
	parts := []string{"replace"}
	b := r.GetBlend()
	if b.GetBlendingGuidance().GetEnabled() {
		parts = append(parts, "guidance")
	}
	if b.GetSelfRectification().GetEnabled() {
		parts = append(parts, "rectification")
	}
	if b.GetReferenceCompat() {
		parts = append(parts, "reference-compat")
	}
	return strings.Join(parts, "+")
}

// WithDefaults returns a copy of s with every default filled in; resolution is the base
// model's training size, used when s has none. s is not modified.
func (s *ConceptJobSpec) WithDefaults(resolution int32) *ConceptJobSpec {
	out := proto.Clone(s).(*ConceptJobSpec)
	if out.ModifierToken == "" {
		out.ModifierToken = DefaultModifierToken
	}
	if out.InitToken == "" {
		out.InitToken = DefaultInitToken
	}
	if out.Steps == 0 {
		out.Steps = DefaultTrainSteps
	}
	if out.LearningRate == 0 {
		out.LearningRate = DefaultLearningRate
	}
	if out.BatchSize == 0 {
		out.BatchSize = DefaultBatchSize
	}
	if out.Resolution == 0 {
		out.Resolution = resolution
	}
	if out.Workers == 0 {
		out.Workers = DefaultWorkers
	}
	if out.CheckpointEvery == 0 {
		out.CheckpointEvery = min(DefaultCheckpointEvery, out.Steps)
	}
	if out.ExtractPrompt == "" {
		out.ExtractPrompt = "photo of " + out.ModifierToken + " " + out.ClassNoun
	}
	return out
}
