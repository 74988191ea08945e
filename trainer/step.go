package trainer

import (
	"fmt"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/latexblend/latexblend/model/clip"
	"github.com/latexblend/latexblend/model/sdxl"
	"github.com/latexblend/latexblend/model/unet"
	"github.com/latexblend/latexblend/nn"
)

// Graph input and output names of the training step.
const (
	inIDs1         = "ids1"          // [R, 77] text rows for encoder 1
	inIDs2         = "ids2"          // [R, 77] text rows for encoder 2
	inPoolSel      = "pool_sel2"     // [R, 1, 1, 77] encoder 2's pooled position
	inPooledRows   = "pooled_rows"   // [S, R] text rows whose pooled embedding conditions each sample
	inSelTrainable = "sel_trainable" // [S·77, R·77] K/V tokens taken from the trainable projection
	inSelBase      = "sel_base"      // [S·77, R·77] K/V tokens taken from the frozen copy
	inNoise        = "noise"         // [S, 4, h, w] the target
	inWInstance    = "w_instance"    // [S, 4, h, w] per-element weights of the instance loss
	inWPrior       = "w_prior"       // [S, 4, h, w] per-element weights of the prior loss

	outPred = "model_pred"
)

// layout is the row order of one step. Samples are [instances (B), priors (B)]; text
// rows are [instance prompts, class prompts, replace prompts], the class rows only with
// prior preservation and the replace rows only with the base flow (the reference's
// [instance, class, replace] for B = 1).
type layout struct {
	B             int
	prior, flow   bool
	samples, text int
}

func newLayout(b int, prior, flow bool) layout {
	l := layout{B: b, prior: prior, flow: flow, samples: b, text: b}
	if prior {
		l.samples += b
		l.text += b
	}
	if flow {
		l.text += b
	}
	return l
}

// replaceRow is the text row of instance i's replace prompt.
func (l layout) replaceRow(i int) int { return l.samples + i }

// buildStep returns the training graph: both text encoders (gradient into the modifier
// rows), the UNet with the K/V hook (BOS detached; base-flow splice), and the loss.
func (t *Trainer) buildStep(b *nn.Builder) error {
	te1, te2 := t.tr.encoders[0], t.tr.encoders[1]
	var ins [3]*G.Node
	for i, name := range []string{inIDs1, inIDs2, inPoolSel} {
		n, err := b.Input(name)
		if err != nil {
			return err
		}
		ins[i] = n
	}
	ctx, pooled, err := sdxl.PromptForward(b, te1, te2, ins[0], ins[1], ins[2])
	if err != nil {
		return err
	}
	if t.layout.text != t.layout.samples {
		sel, err := b.Input(inPooledRows)
		if err != nil {
			return err
		}
		// The reference's UNet slices aug_emb[:batch]: the replace rows' pooled
		// embeddings condition nothing.
		if pooled, err = b.MatMul(sel, pooled); err != nil {
			return err
		}
	}
	nodes, err := t.base.UNet.NodesFor(b, ctx, pooled)
	if err != nil {
		return err
	}
	pred, err := t.base.UNet.Build(b, nodes, unet.BuildOptions{Hooks: unet.Hooks{KV: t.kvHook}})
	if err != nil {
		return err
	}
	noise, err := b.Input(inNoise)
	if err != nil {
		return err
	}
	diff, err := G.Sub(pred, noise)
	if err != nil {
		return err
	}
	sq, err := G.HadamardProd(diff, diff)
	if err != nil {
		return err
	}
	weighted := func(name string) (*G.Node, error) {
		w, err := b.Input(name)
		if err != nil {
			return nil, err
		}
		p, err := G.HadamardProd(sq, w)
		if err != nil {
			return nil, err
		}
		return G.Sum(p)
	}

	inst, err := weighted(inWInstance)
	if err != nil {
		return err
	}
	b.Output(outPred, pred)
	loss := inst
	if t.layout.prior {
		prior, err := weighted(inWPrior)
		if err != nil {
			return err
		}
		scaled, err := G.Mul(prior, b.Scalar(t.recipe.PriorLossWeight))
		if err != nil {
			return err
		}
		if loss, err = G.Add(inst, scaled); err != nil {
			return err
		}
	}
	b.Loss(loss)
	return nil
}

// kvHook detaches the BOS keys/values (Custom Diffusion) and, with the base flow,
// rebuilds each instance row from the frozen projection of its replace prompt around
// the trainable projection of "<new1> noun".
func (t *Trainer) kvHook(b *nn.Builder, s unet.Site, k, v *G.Node) (*G.Node, *G.Node, error) {
	if !s.Cross {
		return k, v, nil
	}
	if !t.layout.flow {
		k, err := b.DetachPositions(k, []int{0})
		if err != nil {
			return nil, nil, err
		}
		v, err = b.DetachPositions(v, []int{0})
		return k, v, err
	}
	st, err := b.Input(inSelTrainable)
	if err != nil {
		return nil, nil, err
	}
	sb, err := b.Input(inSelBase)
	if err != nil {
		return nil, nil, err
	}
	splice := func(x *G.Node, w *nn.Param) (*G.Node, error) {
		frozen, ok := t.frozenOf[w.Name]
		if !ok {
			return nil, fmt.Errorf("base flow: no frozen copy of %s", w.Name)
		}
		x1, err := b.Linear(s.Context, b.Param(frozen), nil)
		if err != nil {
			return nil, err
		}
		a, err := unet.TokenMix(b, x, st, t.layout.samples)
		if err != nil {
			return nil, err
		}
		c, err := unet.TokenMix(b, x1, sb, t.layout.samples)
		if err != nil {
			return nil, err
		}
		y, err := G.Add(a, c)
		if err != nil {
			return nil, err
		}
		return b.DetachPositions(y, []int{0})
	}
	if k, err = splice(k, s.KeyWeight); err != nil {
		return nil, nil, err
	}
	v, err = splice(v, s.ValueWeight)
	return k, v, err
}

// StepData is one rank's step: latents already scaled by the VAE's scaling factor,
// the noise target, per-sample timesteps (all [S, 4, h, w] / [S] with S = B or 2B), the
// instance masks at latent resolution ([B, h, w]) and the prompts of each instance.
type StepData struct {
	Latents   []float32
	Noise     []float32
	Timesteps []float64
	Masks     []float32
	Prompts   []Prompts
	// Templates are the (instance, replace) templates each prompt was made from; they
	// locate the base-flow slots.
	Templates [][2]string
	// Height and Width are the latent size.
	Height, Width int
}

// stepInputs turns one step's data into the graph's inputs.
func (t *Trainer) stepInputs(d *StepData) (map[string]*tensor.Dense, error) {
	l := t.layout
	h, w := d.Height, d.Width
	per := t.latentChannels * h * w
	switch {
	case len(d.Prompts) != l.B || len(d.Templates) != l.B:
		return nil, fmt.Errorf("step data: %d prompts and %d template pairs for a batch of %d", len(d.Prompts), len(d.Templates), l.B)
	case len(d.Latents) != l.samples*per || len(d.Noise) != len(d.Latents):
		return nil, fmt.Errorf("step data: %d latents and %d noise values, want %d", len(d.Latents), len(d.Noise), l.samples*per)
	case len(d.Timesteps) != l.samples:
		return nil, fmt.Errorf("step data: %d timesteps for %d samples", len(d.Timesteps), l.samples)
	case len(d.Masks) != l.B*h*w:
		return nil, fmt.Errorf("step data: %d mask values, want %d", len(d.Masks), l.B*h*w)
	}
	p := t.base.Prompt
	var texts []string
	for _, pr := range d.Prompts {
		texts = append(texts, pr.Instance)
	}
	if l.prior {
		for _, pr := range d.Prompts {
			texts = append(texts, pr.Class)
		}
	}
	if l.flow {
		for _, pr := range d.Prompts {
			texts = append(texts, pr.Replace)
		}
	}
	var ids1, ids2 [][]int
	for _, s := range texts {
		ids1 = append(ids1, p.Tokenizer.EncodePadded(s))
		ids2 = append(ids2, p.Tokenizer2.EncodePadded(s))
	}
	in, err := t.textInputs(ids1, ids2)
	if err != nil {
		return nil, err
	}
	noisy, err := t.base.Noise.AddNoise(d.Latents, d.Noise, per, d.Timesteps)
	if err != nil {
		return nil, fmt.Errorf("step data: %w", err)
	}
	sample := tensor.New(tensor.WithShape(l.samples, t.latentChannels, h, w), tensor.WithBacking(noisy))
	res := float32(t.recipe.Resolution)
	timeIDs := make([]float32, 0, 6*l.samples)
	for range l.samples {
		timeIDs = append(timeIDs, res, res, 0, 0, res, res)
	}
	ui, err := t.base.UNet.GraphInputs(unet.Inputs{
		Sample: sample, Timesteps: d.Timesteps,
		Context:    tensor.New(tensor.WithShape(l.samples, p.Tokenizer.MaxLength(), t.contextDim), tensor.WithBacking(make([]float32, l.samples*p.Tokenizer.MaxLength()*t.contextDim))),
		TextEmbeds: tensor.New(tensor.WithShape(l.samples, t.pooledDim), tensor.WithBacking(make([]float32, l.samples*t.pooledDim))),
		TimeIDs:    tensor.New(tensor.WithShape(l.samples, 6), tensor.WithBacking(timeIDs)),
	})
	if err != nil {
		return nil, err
	}
	for _, name := range []string{unet.InputSample, unet.InputTimeProj, unet.InputTimeIDsProj} {
		in[name] = ui[name]
	}
	in[inNoise] = tensor.New(tensor.WithShape(l.samples, t.latentChannels, h, w), tensor.WithBacking(append([]float32(nil), d.Noise...)))
	wi, wp := lossWeights(l, t.latentChannels, h, w, d.Masks)
	in[inWInstance] = tensor.New(tensor.WithShape(l.samples, t.latentChannels, h, w), tensor.WithBacking(wi))
	if l.prior {
		in[inWPrior] = tensor.New(tensor.WithShape(l.samples, t.latentChannels, h, w), tensor.WithBacking(wp))
	}
	if l.text != l.samples {
		sel := make([]float32, l.samples*l.text)
		for i := range l.samples {
			sel[i*l.text+i] = 1
		}
		in[inPooledRows] = tensor.New(tensor.WithShape(l.samples, l.text), tensor.WithBacking(sel))
	}
	if l.flow {
		if err := t.flowSelections(in, d, ids2); err != nil {
			return nil, err
		}
	}
	return in, nil
}

// textInputs are the encoders' inputs for token rows.
func (t *Trainer) textInputs(ids1, ids2 [][]int) (map[string]*tensor.Dense, error) {
	a, err := idsTensor(ids1)
	if err != nil {
		return nil, err
	}
	b, err := idsTensor(ids2)
	if err != nil {
		return nil, err
	}
	s, err := poolSelect(ids2)
	if err != nil {
		return nil, err
	}
	return map[string]*tensor.Dense{inIDs1: a, inIDs2: b, inPoolSel: s}, nil
}

// lossWeights are the per-element weights that turn Σ w·(pred-noise)² into the
// reference's losses: instance = mean_b Σ_{c,h,w} mask·d² / Σ_{h,w} mask (4× a masked
// per-element mean, as the reference computes it), prior = mean over every element of
// the prior rows.
func lossWeights(l layout, ch, h, w int, masks []float32) (inst, prior []float32) {
	plane := h * w
	inst = make([]float32, l.samples*ch*plane)
	for i := range l.B {
		m := masks[i*plane : (i+1)*plane]
		var sum float64
		for _, v := range m {
			sum += float64(v)
		}
		if sum == 0 {
			continue
		}
		scale := 1 / (sum * float64(l.B))
		for c := range ch {
			row := inst[(i*ch+c)*plane : (i*ch+c+1)*plane]
			for j, v := range m {
				row[j] = float32(float64(v) * scale)
			}
		}
	}
	if !l.prior {
		return inst, nil
	}
	prior = make([]float32, len(inst))
	pw := float32(1 / float64(l.B*ch*plane))
	for i := l.B * ch * plane; i < len(prior); i++ {
		prior[i] = pw
	}
	return inst, prior
}

// flowSelections adds the base flow's token selections: instance row i takes
// "<new1> noun" from its own text row (trainable projection) at the replace prompt's
// "a noun" slot and every other position from its replace row (frozen copy); prior
// rows take their own class row (trainable).
func (t *Trainer) flowSelections(in map[string]*tensor.Dense, d *StepData, ids2 [][]int) error {
	l := t.layout
	L := len(ids2[0])
	var train, frozen []unet.TokenCopy
	for i := range l.B {
		pos, err := flowPositions(t.base.Prompt.Tokenizer2, t.recipe, d.Templates[i][0], d.Templates[i][1], t.modifier)
		if err != nil {
			return err
		}
		for p := range L {
			if p >= pos.ReplaceStart && p < pos.ReplaceEnd {
				train = append(train, unet.TokenCopy{DstRow: i, DstPos: p, SrcRow: i, SrcPos: pos.InsStart + p - pos.ReplaceStart})
			} else {
				frozen = append(frozen, unet.TokenCopy{DstRow: i, DstPos: p, SrcRow: l.replaceRow(i), SrcPos: p})
			}
		}
	}
	for i := l.B; i < l.samples; i++ {
		for p := range L {
			train = append(train, unet.TokenCopy{DstRow: i, DstPos: p, SrcRow: i, SrcPos: p})
		}
	}
	var err error
	if in[inSelTrainable], err = unet.SelectionMatrix(tensor.Float32, l.samples, L, l.text, L, train); err != nil {
		return err
	}
	in[inSelBase], err = unet.SelectionMatrix(tensor.Float32, l.samples, L, l.text, L, frozen)
	return err
}

func idsTensor(ids [][]int) (*tensor.Dense, error) { return clip.IDsTensor(tensor.Float32, ids) }

func poolSelect(ids [][]int) (*tensor.Dense, error) {
	return clip.PoolSelectTensor(tensor.Float32, ids)
}
