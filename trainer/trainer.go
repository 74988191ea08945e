package trainer

import (
	"context"
	"fmt"
	"slices"

	"github.com/latexblend/latexblend/allreduce"
	"github.com/latexblend/latexblend/nn"
)

// Reducer averages buffers across the ranks of a data-parallel gang; every rank ends
// with bitwise identical values. *allreduce.Ring is one; nil means a single rank.
type Reducer interface {
	AllReduce(ctx context.Context, op allreduce.Op, bufs ...[]float32) error
}

// Trainer is one rank of a Custom Diffusion (+ base flow) run: the graph, the trainable
// parameters and the optimizer state.
type Trainer struct {
	recipe   Recipe
	base     *Base
	tr       *trainables
	modifier int
	frozenOf map[string]*nn.Param
	layout   layout
	prog     *nn.Program
	opt      *adamW
	reducer  Reducer
	// step counts the optimizer steps done.
	step int

	latentChannels, contextDim, pooledDim int
}

// StepResult is what one optimizer step reports (losses averaged over the ranks).
type StepResult struct {
	Step                          int
	Loss, InstanceLoss, PriorLoss float64
	// GradNorm is the global gradient norm before clipping.
	GradNorm float64
}

// NewTrainer prepares base for training with recipe r (adds the modifier token, marks
// the trainable parameters, makes the base flow's frozen copies). reducer may be nil
// for a single rank. base belongs to the trainer from now on.
func NewTrainer(base *Base, r Recipe, reducer Reducer) (*Trainer, error) {
	if err := r.Validate(); err != nil {
		return nil, err
	}
	tr, modifier, err := prepare(base, r)
	if err != nil {
		return nil, err
	}
	if err := checkTemplates(base.Prompt.Tokenizer2, r, modifier); err != nil {
		return nil, err
	}
	cfg := base.UNet.Config()
	t := &Trainer{
		recipe: r, base: base, tr: tr, modifier: modifier, frozenOf: map[string]*nn.Param{},
		layout: newLayout(r.Batch, r.Prior, r.BaseFlow), reducer: reducer,
		latentChannels: cfg.InChannels, contextDim: cfg.CrossAttentionDim[0],
		pooledDim: base.Prompt.TextEncoder2.Model.Config.ProjectionDim,
	}
	for i, f := range tr.frozen {
		t.frozenOf[tr.kv[i].Name] = f
	}
	t.prog = nn.NewProgram(base.UNet.Params(), t.buildStep, nn.Hooks{})
	t.opt = newAdamW(r, t.paramSizes())
	return t, nil
}

// Close releases the compiled graphs (the trainer's and the base model's).
func (t *Trainer) Close() error {
	err := t.prog.Close()
	t.base.Close()
	return err
}

// Recipe returns the trainer's recipe.
func (t *Trainer) Recipe() Recipe { return t.recipe }

// Step returns the number of optimizer steps done.
func (t *Trainer) Step() int { return t.step }

// ModifierID is the modifier token's id in both tokenizers.
func (t *Trainer) ModifierID() int { return t.modifier }

// trainedKV lists the attn2 to_k/to_v parameters the recipe trains: every one, or none
// with Recipe.TokenOnly (they stay the base model's, so deltas and checkpoints leave
// them out).
func (t *Trainer) trainedKV() []*nn.Param {
	if t.recipe.TokenOnly {
		return nil
	}
	return t.tr.kv
}

// optimized lists the optimizer's slots: every trained kv weight, then the modifier
// rows of both tables; params and grads are the matching value and gradient slices.
func (t *Trainer) optimized() (params, grads [][]float32) {
	for _, p := range t.trainedKV() {
		params = append(params, p.Value.Data().([]float32))
		grads = append(grads, p.Grad.Data().([]float32))
	}
	for _, tab := range t.tr.tables {
		d := tab.Value.Shape()[1]
		w, g := tab.Value.Data().([]float32), tab.Grad.Data().([]float32)
		for _, r := range t.tr.rows {
			params = append(params, w[r*d:(r+1)*d])
			grads = append(grads, g[r*d:(r+1)*d])
		}
	}
	return params, grads
}

func (t *Trainer) paramSizes() []int {
	p, _ := t.optimized()
	out := make([]int, len(p))
	for i, s := range p {
		out[i] = len(s)
	}
	return out
}

// forward runs the step graph: losses and the raw local gradients.
func (t *Trainer) forward(d *StepData) (*StepResult, map[string][]float32, error) {
	in, err := t.stepInputs(d)
	if err != nil {
		return nil, nil, err
	}
	res, err := t.prog.Run(in)
	if err != nil {
		return nil, nil, fmt.Errorf("training step %d: %w", t.step+1, err)
	}
	pred := res.Outputs[outPred].Data().([]float32)
	// The loss terms are recomputed on the host from the prediction (graph outputs
	// must be tensors, the terms are scalars).
	sr := &StepResult{Loss: res.Loss, InstanceLoss: weightedSum(in[inWInstance], pred, d.Noise)}
	if w, ok := in[inWPrior]; ok {
		sr.PriorLoss = weightedSum(w, pred, d.Noise)
	}
	outs := map[string][]float32{outPred: pred}
	return sr, outs, nil
}

// TrainStep does one optimizer step on d: forward and backward, gradient averaging
// across the ranks (one fused all-reduce that also averages the losses), clipping,
// AdamW. Every rank applies the same update, so the weights stay identical.
func (t *Trainer) TrainStep(ctx context.Context, d *StepData) (*StepResult, error) {
	sr, _, err := t.forward(d)
	if err != nil {
		return nil, err
	}
	// With Recipe.TokenOnly these are the token rows alone: the ranks average them
	// alone, and clipping sees their norm alone.
	grads := t.tr.gradBuffers()
	if t.reducer != nil {
		losses := []float32{float32(sr.Loss), float32(sr.InstanceLoss), float32(sr.PriorLoss)}
		if err := t.reducer.AllReduce(ctx, allreduce.Mean, append(slices.Clip(grads), losses)...); err != nil {
			return nil, fmt.Errorf("training step %d: averaging gradients: %w", t.step+1, err)
		}
		sr.Loss, sr.InstanceLoss, sr.PriorLoss = float64(losses[0]), float64(losses[1]), float64(losses[2])
	}
	sr.GradNorm = clipGradNorm(grads, t.recipe.MaxGradNorm)
	if err := t.applyUpdate(); err != nil {
		return nil, err
	}
	t.step++
	sr.Step = t.step
	return sr, nil
}

// applyUpdate runs AdamW on the (averaged, clipped) gradients and decays the other
// embedding rows as torch's AdamW does on the whole table.
func (t *Trainer) applyUpdate() error {
	params, grads := t.optimized()
	if err := t.opt.step(params, grads); err != nil {
		return err
	}
	if !t.recipe.DecayFrozenRows {
		return nil
	}
	for _, tab := range t.tr.tables {
		d := tab.Value.Shape()[1]
		w := tab.Value.Data().([]float32)
		lo := 0
		for _, r := range sortedInts(t.tr.rows) {
			t.opt.decayOnly(w[lo*d : r*d])
			lo = r + 1
		}
		t.opt.decayOnly(w[lo*d:])
	}
	return nil
}
