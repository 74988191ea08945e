package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/latexblend/latexblend/blend"
	"github.com/latexblend/latexblend/model/sdxl"
)

func init() {
	generateExtensions = append(generateExtensions, func() generateExtension { return &blendExtension{} })
}

// blendExtension adds LatexBlend's flags to `generate`: concepts from the bank and the
// three inference options, or a reference inference_dict config.
type blendExtension struct {
	concepts        []string
	config          string
	blendingStart   float64
	guidance        bool
	guidanceSteps   int
	guidanceStep    float64
	rectify         bool
	rectStart       float64
	referenceCompat bool
	noBinding       bool
	noPlaces        bool
	clusterSeed     uint64
}

func (e *blendExtension) AddFlags(cmd *cobra.Command) {
	d := blend.DefaultOptions()
	f := cmd.Flags()
	f.StringArrayVar(&e.concepts, "concept", nil, "NOUN=ENTRY: blend a concept entry (.safetensors, or a reference .pt bank) into the prompt's NOUN; repeatable, in order (concept1, concept2, …)")
	f.StringVar(&e.config, "config", "", "the reference's inference_dict JSON (prompt, concept1..N with concept_bank and class_noun, blending_start, blending_guidance, self_rectification, guidance_steps, guidance_stepsize, rectification_start, batch_size, num_inference_steps); flags given explicitly override it")
	f.Float64Var(&e.blendingStart, "blending-start", d.BlendingStart, "write concept K/V once the timestep t < 1000·blending_start")
	f.BoolVar(&e.guidance, "blending-guidance", false, "blending guidance: a gradient step on the latents for the first --guidance-steps steps")
	f.IntVar(&e.guidanceSteps, "guidance-steps", d.GuidanceSteps, "steps with blending guidance")
	f.Float64Var(&e.guidanceStep, "guidance-stepsize", d.GuidanceStepsize, "latent step size of blending guidance")
	f.BoolVar(&e.rectify, "self-rectification", false, "self-attention rectification of the concepts' cross-attention")
	f.Float64Var(&e.rectStart, "rectification-start", d.RectificationStart, "attention is saved at step int((1-x)·steps) and rectified after it")
	f.BoolVar(&e.referenceCompat, "reference-compat", false, "reproduce the reference code exactly, its bugs included (see docs/blend.md)")
	f.BoolVar(&e.noBinding, "no-binding", false, "do not copy the noun's pre-softmax scores onto the modifier slot (the reference always does)")
	f.BoolVar(&e.noPlaces, "no-places", false, "use every concept entry's place-1 rows even when it holds rows for later places (see docs/blend.md)")
	f.Uint64Var(&e.clusterSeed, "cluster-seed", 0, "seed of the rectification's k-means")
}

func (e *blendExtension) Apply(_ context.Context, cmd *cobra.Command, p *sdxl.Pipeline, req *sdxl.Request) (string, any, error) {
	flags := cmd.Flags()
	opts := blend.DefaultOptions()
	type named struct{ noun, path string }
	var list []named
	if e.config != "" {
		cfg, err := blend.ReadInferenceConfig(e.config)
		if err != nil {
			return "", nil, fmt.Errorf("--config: %w", err)
		}
		opts = cfg.Options
		if !flags.Changed("prompt") {
			req.Prompt = cfg.Prompt
		}
		if cfg.NumInferenceSteps > 0 && !flags.Changed("steps") {
			req.Steps = cfg.NumInferenceSteps
		}
		if cfg.BatchSize > 0 && req.InitLatents == nil && !flags.Changed("num-images") {
			req.NumImages = cfg.BatchSize
		}
		if !flags.Changed("cfg") {
			req.GuidanceScale = 6 // hard-coded in the reference's diffusers_sample.py
		}
		if len(e.concepts) > 0 {
			return "", nil, fmt.Errorf("give concepts either in --config %s or with --concept, not both", e.config)
		}
		for _, c := range cfg.Concepts {
			list = append(list, named{c.ClassNoun, c.Bank})
		}
	}
	for _, c := range e.concepts {
		noun, path, ok := strings.Cut(c, "=")
		if !ok || strings.TrimSpace(noun) == "" || path == "" {
			return "", nil, fmt.Errorf("--concept %q: want NOUN=ENTRY.safetensors", c)
		}
		list = append(list, named{strings.TrimSpace(noun), path})
	}
	set := func(name string, apply func()) {
		if e.config == "" || flags.Changed(name) {
			apply()
		}
	}
	set("blending-start", func() { opts.BlendingStart = e.blendingStart })
	set("blending-guidance", func() { opts.Guidance = e.guidance })
	set("guidance-steps", func() { opts.GuidanceSteps = e.guidanceSteps })
	set("guidance-stepsize", func() { opts.GuidanceStepsize = e.guidanceStep })
	set("self-rectification", func() { opts.Rectification = e.rectify })
	set("rectification-start", func() { opts.RectificationStart = e.rectStart })
	opts.ReferenceCompat = e.referenceCompat
	opts.NoBinding = e.noBinding
	opts.NoPlaces = e.noPlaces
	opts.Seed = e.clusterSeed
	if len(list) == 0 {
		for _, fl := range []string{"blending-guidance", "self-rectification", "reference-compat", "no-binding", "no-places", "blending-start"} {
			if flags.Changed(fl) {
				return "", nil, fmt.Errorf("--%s needs concepts (--concept NOUN=ENTRY or --config)", fl)
			}
		}
		return "", nil, nil
	}
	concepts := make([]blend.Concept, len(list))
	paths := make([]string, len(list))
	for i, c := range list {
		ent, err := blend.LoadConcept(c.noun, c.path)
		if err != nil {
			return "", nil, fmt.Errorf("concept %d (%s): %w", i+1, c.noun, err)
		}
		concepts[i] = blend.Concept{ClassNoun: c.noun, Entry: ent}
		paths[i] = c.path
	}
	b, err := blend.New(blend.Setup{
		UNet: p.UNet, Tokenizer: p.Prompt.Tokenizer, Identity: p.Identity,
		Prompt: req.Prompt, Concepts: concepts, Options: opts,
	})
	if err != nil {
		return "", nil, err
	}
	req.Hooks = b.Hooks(req.Hooks)
	md := b.Metadata()
	for i, pth := range paths {
		md[fmt.Sprintf("concept%d_entry", i+1)] = pth
	}
	return "blend", md, nil
}
