package trainer

import (
	"encoding/json"
	"fmt"
	"strings"
)

// Reference defaults (spec §1, sdxl-custom-diffusion §4.5).
const (
	DefaultModifierToken   = "<new1>"
	DefaultInitToken       = "ktn"
	DefaultLearningRate    = 1e-5
	DefaultSteps           = 250
	DefaultPriorLossWeight = 1.0
	DefaultMaxGradNorm     = 1.0
	DefaultReplaceArticle  = "a"
)

// DefaultTemplates is the reference's prompt template pool; instance and replace
// prompts draw from it independently.
var DefaultTemplates = []string{
	"{}",
	"a {}",
	"photo of {}",
	"a photo of {}",
	"a photo of a {}",
	"a fancy photo of a {}",
	"A close-up, detailed photo of {}",
}

// Recipe is everything that determines a training run besides the data and the base
// model. It is stored (as JSON) in checkpoints, deltas and concept entries.
type Recipe struct {
	ClassNoun     string   `json:"class_noun"`
	ModifierToken string   `json:"modifier_token"`
	InitToken     string   `json:"init_token"`
	Templates     []string `json:"templates"`
	// BaseFlow turns on LatexBlend's K/V splice of the instance row (false: plain
	// Custom Diffusion).
	BaseFlow bool `json:"base_flow"`
	// TokenOnly trains the modifier token's rows alone and keeps every attn2
	// to_k/to_v at the base model's (textual-inversion style; an extension of the
	// reference, which trains both). The forward graph, losses and base flow are
	// unchanged (the base flow reads the unchanging projections instead of copies); the
	// backward pass computes no projection or text_projection gradient, so the clipping
	// norm counts the token rows only. Deltas and checkpoints hold the rows alone (a
	// missing projection is the base model's), and several ranks average the rows alone.
	// An entry is then the base model's own K/V of a learnt word, the form of a
	// perfect entry (docs/eval.md).
	TokenOnly bool `json:"token_only,omitempty"`
	// Steps is the number of optimizer steps.
	Steps int `json:"steps"`
	// LearningRate is the base rate; EffectiveLR applies ScaleLR.
	LearningRate float64 `json:"learning_rate"`
	ScaleLR      bool    `json:"scale_lr"`
	// Batch is the number of instance images per rank per step (each with one prior
	// image when prior preservation is on).
	Batch int `json:"batch"`
	// Ranks is the data-parallel world size the learning rate is scaled for.
	Ranks      int    `json:"ranks"`
	Resolution int    `json:"resolution"`
	Seed       uint64 `json:"seed"`
	// Prior is prior preservation (regularization images present).
	Prior           bool    `json:"prior"`
	PriorLossWeight float64 `json:"prior_loss_weight"`
	MaxGradNorm     float64 `json:"max_grad_norm"`
	HFlip           bool    `json:"hflip"`
	Augment         bool    `json:"augment"`
	// DecayFrozenRows applies AdamW's weight decay to every embedding row, as torch
	// does on the whole table (rows other than the modifier's have zero gradient and
	// only shrink by (1 - lr·wd) per step).
	DecayFrozenRows bool    `json:"decay_frozen_rows"`
	Beta1           float64 `json:"beta1"`
	Beta2           float64 `json:"beta2"`
	WeightDecay     float64 `json:"weight_decay"`
	Eps             float64 `json:"eps"`
}

// DefaultRecipe returns the reference recipe for a class noun.
func DefaultRecipe(classNoun string) Recipe {
	return Recipe{
		ClassNoun: classNoun, ModifierToken: DefaultModifierToken, InitToken: DefaultInitToken,
		Templates: append([]string(nil), DefaultTemplates...), BaseFlow: true, Steps: DefaultSteps,
		LearningRate: DefaultLearningRate, Batch: 1, Ranks: 1, Seed: 42, Prior: true,
		PriorLossWeight: DefaultPriorLossWeight, MaxGradNorm: DefaultMaxGradNorm, HFlip: true, Augment: true,
		DecayFrozenRows: true, Beta1: 0.9, Beta2: 0.999, WeightDecay: 1e-2, Eps: 1e-8,
	}
}

// EffectiveLR is the learning rate after the reference's --scale_lr:
// lr × grad_accum(1) × batch × ranks, then × 2 with prior preservation.
func (r Recipe) EffectiveLR() float64 {
	if !r.ScaleLR {
		return r.LearningRate
	}
	lr := r.LearningRate * float64(r.Batch) * float64(max(r.Ranks, 1))
	if r.Prior {
		lr *= 2
	}
	return lr
}

// Validate reports the first field that is out of range.
func (r Recipe) Validate() error {
	switch {
	case strings.TrimSpace(r.ClassNoun) == "":
		return fmt.Errorf("recipe: class noun is empty")
	case r.ModifierToken == "" || strings.ContainsAny(r.ModifierToken, " \t\r\n"):
		return fmt.Errorf("recipe: modifier token %q must be one non-empty word", r.ModifierToken)
	case r.ModifierToken == r.ClassNoun:
		return fmt.Errorf("recipe: modifier token %q equals the class noun", r.ModifierToken)
	case r.InitToken == "" || strings.ContainsAny(r.InitToken, " \t\r\n"):
		return fmt.Errorf("recipe: init token %q must be one non-empty word", r.InitToken)
	case r.Steps < 1:
		return fmt.Errorf("recipe: steps %d must be at least 1", r.Steps)
	case !(r.LearningRate > 0 && r.LearningRate <= 1):
		return fmt.Errorf("recipe: learning rate %g must be in (0, 1]", r.LearningRate)
	case r.Batch < 1:
		return fmt.Errorf("recipe: batch %d must be at least 1", r.Batch)
	case r.Ranks < 1:
		return fmt.Errorf("recipe: ranks %d must be at least 1", r.Ranks)
	case r.Resolution < 8 || r.Resolution%8 != 0:
		return fmt.Errorf("recipe: resolution %d must be a positive multiple of 8", r.Resolution)
	case r.PriorLossWeight < 0:
		return fmt.Errorf("recipe: prior loss weight %g is negative", r.PriorLossWeight)
	case r.MaxGradNorm < 0:
		return fmt.Errorf("recipe: max grad norm %g is negative", r.MaxGradNorm)
	case len(r.Templates) == 0:
		return fmt.Errorf("recipe: the template pool is empty")
	}
	for _, t := range r.Templates {
		if strings.Count(t, "{}") != 1 {
			return fmt.Errorf("recipe: template %q must contain exactly one {}", t)
		}
	}
	return nil
}

// JSON encodes the recipe for metadata.
func (r Recipe) JSON() string {
	b, err := json.Marshal(r)
	if err != nil {
		panic(fmt.Sprintf("encode recipe: %v", err))
	}
	return string(b)
}

// ParseRecipe decodes Recipe.JSON.
func ParseRecipe(s string) (Recipe, error) {
	var r Recipe
	if err := json.Unmarshal([]byte(s), &r); err != nil {
		return r, fmt.Errorf("recipe JSON: %w", err)
	}
	return r, nil
}
