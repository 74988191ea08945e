package trainer

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/latexblend/latexblend/model/safetensors"
)

// Checkpoint file: the delta's tensors, AdamW's moments per optimizer slot
// ("adamw.m.<slot>", "adamw.v.<slot>"), with DecayFrozenRows the whole token tables
// ("table.<parameter name>": weight decay shrinks every row), and in the metadata the
// step, the seed (each step's random stream is derived from seed, rank and step, so the
// seed is the whole RNG state), the recipe and the base model identity.
const (
	CheckpointFormat = "latexblend.checkpoint/v1"
	ckptKeySeed      = "seed"
	ckptKeyRNG       = "rng"
	ckptRNGScheme    = "pcg(seed, rank<<40|step) per rank and step"
)

// slotNames names the optimizer slots in optimized() order.
func (t *Trainer) slotNames() []string {
	var out []string
	for _, p := range t.trainedKV() {
		out = append(out, p.Name)
	}
	for i := range t.tr.tables {
		for range t.tr.rows {
			out = append(out, TokenRowName(i, t.recipe.ModifierToken))
		}
	}
	return out
}

// Checkpoint encodes the trainer's full state.
func (t *Trainer) Checkpoint() ([]byte, error) {
	d := t.Delta()
	ts := d.tensors()
	for i, name := range t.slotNames() {
		ts = append(ts,
			safetensors.Tensor{Name: "adamw.m." + name, Shape: []int{len(t.opt.m[i])}, F32: t.opt.m[i]},
			safetensors.Tensor{Name: "adamw.v." + name, Shape: []int{len(t.opt.v[i])}, F32: t.opt.v[i]})
	}
	if t.recipe.DecayFrozenRows {
		for _, tab := range t.tr.tables {
			ts = append(ts, safetensors.Tensor{Name: "table." + tab.Name, Shape: []int(tab.Shape()), F32: tab.Value.Data().([]float32)})
		}
	}
	md := d.metadata()
	md[DeltaKeyFormat] = CheckpointFormat
	md[ckptKeySeed] = strconv.FormatUint(t.recipe.Seed, 10)
	md[ckptKeyRNG] = ckptRNGScheme
	b, err := safetensors.Marshal(ts, md)
	if err != nil {
		return nil, fmt.Errorf("encoding checkpoint at step %d: %w", t.step, err)
	}
	return b, nil
}

// Restore loads a checkpoint made by a trainer with the same recipe (steps, ranks,
// the learning-rate fields and the prior loss weight may differ) and base model; training continues after its step.
func (t *Trainer) Restore(b []byte) error {
	f, err := safetensors.OpenBytes("checkpoint", b)
	if err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	defer f.Close()
	if err := t.restore(f); err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	return nil
}

func (t *Trainer) restore(f *safetensors.File) error {
	md := f.Metadata()
	if md[DeltaKeyFormat] != CheckpointFormat {
		return fmt.Errorf("__metadata__ format is %q, want %q", md[DeltaKeyFormat], CheckpointFormat)
	}
	if id := md[DeltaKeyBaseModelID]; id != "" && id != t.base.Identity {
		return fmt.Errorf("made on base model %s, this trainer has %s", id, t.base.Identity)
	}
	saved, err := ParseRecipe(md[DeltaKeyRecipe])
	if err != nil {
		return err
	}
	if err := compatibleRecipes(saved, t.recipe); err != nil {
		return err
	}
	step, err := strconv.Atoi(md[DeltaKeyStep])
	if err != nil || step < 0 {
		return fmt.Errorf("__metadata__ step %q is not a step count", md[DeltaKeyStep])
	}
	params, _ := t.optimized()
	names := t.slotNames()
	type load struct {
		dst, src []float32
	}
	var loads []load
	for i, name := range names {
		for _, what := range []struct {
			tensor string
			dst    []float32
		}{{name, params[i]}, {"adamw.m." + name, t.opt.m[i]}, {"adamw.v." + name, t.opt.v[i]}} {
			v, err := readF32(f, what.tensor, len(what.dst))
			if err != nil {
				return err
			}
			loads = append(loads, load{what.dst, v})
		}
	}
	if t.recipe.DecayFrozenRows {
		for _, tab := range t.tr.tables {
			dst := tab.Value.Data().([]float32)
			v, err := readF32(f, "table."+tab.Name, len(dst))
			if err != nil {
				return err
			}
			loads = append(loads, load{dst, v})
		}
	}
	// Everything was read and checked: now change the state.
	for _, l := range loads {
		copy(l.dst, l.src)
	}
	t.step, t.opt.steps = step, step
	return nil
}

// compatibleRecipes reports a difference that makes a checkpoint unusable.
func compatibleRecipes(a, b Recipe) error {
	switch {
	case a.ClassNoun != b.ClassNoun:
		return fmt.Errorf("class noun %q, this run trains %q", a.ClassNoun, b.ClassNoun)
	case a.ModifierToken != b.ModifierToken:
		return fmt.Errorf("modifier token %q, this run uses %q", a.ModifierToken, b.ModifierToken)
	case a.BaseFlow != b.BaseFlow:
		return fmt.Errorf("base flow %v, this run has %v", a.BaseFlow, b.BaseFlow)
	case a.TokenOnly != b.TokenOnly:
		return fmt.Errorf("token_only %v, this run has %v (they train different weights)", a.TokenOnly, b.TokenOnly)
	case a.Seed != b.Seed:
		return fmt.Errorf("seed %d, this run has %d (the steps' random streams would differ)", a.Seed, b.Seed)
	case a.DecayFrozenRows != b.DecayFrozenRows:
		return fmt.Errorf("decay_frozen_rows %v, this run has %v", a.DecayFrozenRows, b.DecayFrozenRows)
	case a.InitToken != b.InitToken:
		return fmt.Errorf("init token %q, this run has %q", a.InitToken, b.InitToken)
	case a.Prior != b.Prior:
		return fmt.Errorf("prior preservation %v, this run has %v", a.Prior, b.Prior)
	case a.Resolution != b.Resolution:
		return fmt.Errorf("resolution %d, this run has %d", a.Resolution, b.Resolution)
	case a.Batch != b.Batch:
		return fmt.Errorf("batch %d, this run has %d", a.Batch, b.Batch)
	case a.Augment != b.Augment || a.HFlip != b.HFlip:
		return fmt.Errorf("augmentation %v / flip %v, this run has %v / %v", a.Augment, a.HFlip, b.Augment, b.HFlip)
	case strings.Join(a.Templates, "|") != strings.Join(b.Templates, "|"):
		return fmt.Errorf("templates %q, this run has %q", a.Templates, b.Templates)
	}
	return nil
}
