package base

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/latexblend/latexblend/model/clip"
	"github.com/latexblend/latexblend/model/schedule"
	"github.com/latexblend/latexblend/model/sdxl"
	"github.com/latexblend/latexblend/model/unet"
	"github.com/latexblend/latexblend/nn"
)

// Graph inputs of the UNet training step (besides unet's sample, timestep_proj and
// time_ids_proj).
const (
	inIDs1       = "ids1"        // [B, 77] tokenizer 1 ids
	inIDs2       = "ids2"        // [B, 77] tokenizer 2 ids
	inPoolSel2   = "pool_sel2"   // [B, 1, 1, 77] encoder 2's pooled position
	inCtxKeep    = "ctx_keep"    // [B, 77, D] 1, or 0 for a caption-dropped row
	inPooledKeep = "pooled_keep" // [B, P] the same for the pooled embedding
	inTailIDs1   = "tail_ids1"   // [B, 77] tokenizer 1 ids of the donor captions (Config.TailSwap)
	inTailIDs2   = "tail_ids2"   // [B, 77] and tokenizer 2's
	inTailSel2   = "tail_sel2"   // [B, 1, 1, 77] the donors' pooled positions
	inTailOwn    = "tail_own"    // [B, 77, D] 1 where a row keeps its own context
	inTailTake   = "tail_take"   // [B, 77, D] 1 − tail_own: where it takes the donor's
	inPooledOwn  = "pooled_own"  // [B, P] 1 where a row keeps its own pooled embedding
	inPooledTake = "pooled_take" // [B, P] 1 − pooled_own: the swapped rows take the donor's
	inEpsilon    = "epsilon"     // [B, 4, h, w] the noise the UNet must predict
	inLossWeight = "loss_weight" // [B, 4, h, w] each row's loss weight (min-SNR), over the element count
	outPred      = "pred"        // [B, 4, h, w] the UNet's epsilon prediction
)

// unetTrainer trains the UNet and both text encoders jointly on (latent, caption)
// pairs with DDPM's epsilon objective, data-parallel over its replicas (replicaSet).
type unetTrainer struct {
	reps   []*denoiser
	set    *replicaSet
	tok1   *clip.Tokenizer
	tok2   *clip.Tokenizer
	ddpm   *schedule.DDPM
	opt    *nn.AdamW
	lr     lrSchedule
	rng    *rand.Rand
	params []*nn.Param // the first replica's trainable parameters
	// dropout is the fraction of rows whose conditioning is zeroed, which is what the
	// pipeline's negative branch feeds the UNet (force_zeros_for_empty_prompt).
	dropout float64
	timeIDs [6]float32
	// snrGamma is Config.MinSNRGamma; acp is the schedule's ᾱ_t for its SNR.
	snrGamma float64
	acp      []float64
	// tailSwap is Config.TailSwap: the fraction of rows whose context from the
	// end-of-text token on and pooled embedding are another caption's.
	tailSwap float64
}

// denoiser is one replica: a UNet and the two text encoders.
type denoiser struct {
	u        *unet.Model
	te1, te2 *clip.TextModel
	// tailSwap builds the donor-tail branch (Config.TailSwap > 0).
	tailSwap bool
}

// swapTails mixes each row's context with the context of a donor caption from the
// end-of-text token on: ctx·tail_own + donor·tail_take, and its pooled embedding (encoder
// 2's end-of-text state, so part of the tail) the same way: pooled·pooled_own +
// donor's·pooled_take. Rows that keep their own tail have the *_own masks 1 everywhere.
// Config.TailSwap says why.
func (d *denoiser) swapTails(b *nn.Builder, ctx, pooled *G.Node) (*G.Node, *G.Node, error) {
	var ins [7]*G.Node
	for i, name := range []string{inTailIDs1, inTailIDs2, inTailSel2, inTailOwn, inTailTake, inPooledOwn, inPooledTake} {
		n, err := b.Input(name)
		if err != nil {
			return nil, nil, err
		}
		ins[i] = n
	}
	donor, donorPooled, err := sdxl.PromptForward(b, d.te1, d.te2, ins[0], ins[1], ins[2])
	if err != nil {
		return nil, nil, err
	}
	mix := func(own, other, ownMask, otherMask *G.Node) (*G.Node, error) {
		a, err := G.HadamardProd(own, ownMask)
		if err != nil {
			return nil, err
		}
		o, err := G.HadamardProd(other, otherMask)
		if err != nil {
			return nil, err
		}
		return G.Add(a, o)
	}
	if ctx, err = mix(ctx, donor, ins[3], ins[4]); err != nil {
		return nil, nil, err
	}
	if pooled, err = mix(pooled, donorPooled, ins[5], ins[6]); err != nil {
		return nil, nil, err
	}
	return ctx, pooled, nil
}

// schedulerSettings turns the model's scheduler config into schedule.Config for DDPM's
// AddNoise during training.
func schedulerSettings() schedule.Config {
	c := SchedulerConfig()
	return schedule.Config{
		ClassName:         "DDPMScheduler",
		NumTrainTimesteps: &c.NumTrainTimesteps,
		BetaStart:         &c.BetaStart,
		BetaEnd:           &c.BetaEnd,
		BetaSchedule:      &c.BetaSchedule,
		PredictionType:    &c.PredictionType,
	}
}

// newUNetTrainer trains reps[0]; any further replicas must hold the same weights (see
// model.denoiserCopy).
func newUNetTrainer(reps []*denoiser, tok1, tok2 *clip.Tokenizer, seed uint64, lr lrSchedule, dropout float64) (*unetTrainer, error) {
	if len(reps) == 0 {
		return nil, fmt.Errorf("unet trainer: no replicas")
	}
	ddpm, err := schedule.NewDDPM(schedulerSettings())
	if err != nil {
		return nil, err
	}
	t := &unetTrainer{reps: reps, tok1: tok1, tok2: tok2, ddpm: ddpm, lr: lr, dropout: dropout,
		opt:     nn.NewAdamW(lr.Peak, 0.01),
		rng:     rand.New(rand.NewPCG(seed, 0x756e6574)), // "unet"
		timeIDs: sdxl.SizeConditioning{OriginalSize: [2]int{ImageSize, ImageSize}, TargetSize: [2]int{ImageSize, ImageSize}}.TimeIDs(),
		acp:     ddpm.AlphasCumprod(),
	}
	progs := make([]*nn.Program, len(reps))
	params := make([][]*nn.Param, len(reps))
	for i, d := range reps {
		params[i] = d.trainable()
		progs[i] = nn.NewProgram(d.u.Params(), d.build, nn.Hooks{})
	}
	if t.set, err = newReplicaSet(progs, params, false); err != nil {
		return nil, fmt.Errorf("unet trainer: %w", err)
	}
	t.params = t.set.trainable()
	return t, nil
}

// trainable marks what the UNet phase trains and returns it: the whole UNet and both
// text encoders, except what SDXL never reads.
func (d *denoiser) trainable() []*nn.Param {
	u, te1, te2 := d.u, d.te1, d.te2
	u.Params().SetTrainable(func(string) bool { return true })
	params := u.Params().Trainable()
	// SDXL reads encoder 1's penultimate state only, so its last layer and final norm
	// never see a gradient; leave them at their initial values.
	last := nn.Join(te1.Prefix, "text_model.encoder.layers", fmt.Sprint(len(te1.Layers)-1)) + "."
	unused1 := func(n string) bool {
		return strings.HasPrefix(n, last) || strings.HasPrefix(n, nn.Join(te1.Prefix, "text_model.final_layer_norm"))
	}
	te1.Params().SetTrainable(func(n string) bool {
		return !(strings.HasPrefix(n, te1.Prefix+".") && unused1(n))
	})
	if te2.Params() != te1.Params() {
		te2.Params().SetTrainable(func(string) bool { return true })
		params = append(params, te2.Params().Trainable()...)
	}
	return append(params, te1.Params().Trainable()...)
}

func (d *denoiser) build(b *nn.Builder) error {
	var ins [5]*G.Node
	for i, name := range []string{inIDs1, inIDs2, inPoolSel2, inCtxKeep, inPooledKeep} {
		n, err := b.Input(name)
		if err != nil {
			return err
		}
		ins[i] = n
	}
	ctx, pooled, err := sdxl.PromptForward(b, d.te1, d.te2, ins[0], ins[1], ins[2])
	if err != nil {
		return err
	}
	if d.tailSwap {
		if ctx, pooled, err = d.swapTails(b, ctx, pooled); err != nil {
			return err
		}
	}
	if ctx, err = G.HadamardProd(ctx, ins[3]); err != nil {
		return err
	}
	if pooled, err = G.HadamardProd(pooled, ins[4]); err != nil {
		return err
	}
	nodes, err := d.u.NodesFor(b, ctx, pooled)
	if err != nil {
		return err
	}
	pred, err := d.u.Build(b, nodes, unet.BuildOptions{})
	if err != nil {
		return err
	}
	eps, err := b.Input(inEpsilon)
	if err != nil {
		return err
	}
	w, err := b.Input(inLossWeight)
	if err != nil {
		return err
	}
	loss, err := weightedSquareSum(pred, eps, w)
	if err != nil {
		return err
	}
	b.Output(outPred, pred)
	b.Loss(loss)
	return nil
}

// weightedSquareSum is Σ w·(a − c)²; with w = row weight / element count it is the
// row-weighted mean squared error.
func weightedSquareSum(a, c, w *G.Node) (*G.Node, error) {
	sq, err := squaredDiff(a, c)
	if err != nil {
		return nil, err
	}
	if sq, err = G.HadamardProd(sq, w); err != nil {
		return nil, err
	}
	return G.Sum(sq)
}

// rowWeight is row's min-SNR loss weight at timestep t: min(SNR, γ)/SNR with
// SNR = ᾱ/(1 − ᾱ), or 1 when γ is 0.
func (t *unetTrainer) rowWeight(ts float64) float64 {
	if t.snrGamma <= 0 {
		return 1
	}
	a := t.acp[int(ts)]
	snr := a / (1 - a)
	return math.Min(snr, t.snrGamma) / snr
}

// unetBatch is one step's data: clean latents (already multiplied by the VAE's scaling
// factor) [B, 4, h, w] and their captions.
type unetBatch struct {
	Latents  []float32
	Captions []string
	// Donors are other captions, one per row, whose context tails and pooled embeddings
	// may replace the rows' own (unetTrainer.tailSwap > 0).
	Donors []string
}

// unetStats is one step's outcome: the (min-SNR weighted) loss that was minimised and
// the plain epsilon MSE, comparable across recipes.
type unetStats struct {
	Loss, MSE, GradNorm float64
}

// inputs draws the step's noise, timesteps and caption dropout and returns the graph
// inputs.
func (t *unetTrainer) inputs(batch unetBatch) (map[string]*tensor.Dense, error) {
	n := len(batch.Captions)
	if n == 0 || len(batch.Latents)%n != 0 {
		return nil, fmt.Errorf("unet batch: %d latent values for %d captions", len(batch.Latents), n)
	}
	per := len(batch.Latents) / n
	side := LatentSize
	if per != latentChannels*side*side {
		return nil, fmt.Errorf("unet batch: %d values per latent, want %d·%d·%d", per, latentChannels, side, side)
	}
	eps := normals(t.rng, len(batch.Latents))
	ts := make([]float64, n)
	for i := range ts {
		ts[i] = float64(t.rng.IntN(1000))
	}
	noisy, err := t.ddpm.AddNoise(batch.Latents, eps, per, ts)
	if err != nil {
		return nil, err
	}
	ids1 := make([][]int, n)
	ids2 := make([][]int, n)
	for i, c := range batch.Captions {
		ids1[i] = t.tok1.EncodePadded(c)
		ids2[i] = t.tok2.EncodePadded(c)
	}
	dt := tensor.Float32
	in := map[string]*tensor.Dense{}
	if in[inIDs1], err = clip.IDsTensor(dt, ids1); err != nil {
		return nil, err
	}
	if in[inIDs2], err = clip.IDsTensor(dt, ids2); err != nil {
		return nil, err
	}
	if in[inPoolSel2], err = clip.PoolSelectTensor(dt, ids2); err != nil {
		return nil, err
	}
	l := len(ids1[0])
	te1, te2 := t.reps[0].te1, t.reps[0].te2
	d := te1.HiddenSize() + te2.HiddenSize()
	p := te2.Config.ProjectionDim
	ctxKeep := make([]float32, n*l*d)
	pooledKeep := make([]float32, n*p)
	timeIDs := make([]float32, 0, 6*n)
	for i := 0; i < n; i++ {
		timeIDs = append(timeIDs, t.timeIDs[:]...)
		if t.rng.Float64() < t.dropout {
			continue
		}
		fill(ctxKeep[i*l*d:(i+1)*l*d], 1)
		fill(pooledKeep[i*p:(i+1)*p], 1)
	}
	in[inCtxKeep] = dense(ctxKeep, n, l, d)
	in[inPooledKeep] = dense(pooledKeep, n, p)
	if t.tailSwap > 0 {
		if err := t.tailInputs(in, batch, ids1, d, p); err != nil {
			return nil, err
		}
	}
	in[inEpsilon] = dense(eps, n, latentChannels, side, side)
	lw := make([]float32, len(eps))
	for i := range n {
		fill(lw[i*per:(i+1)*per], float32(t.rowWeight(ts[i])/float64(len(eps))))
	}
	in[inLossWeight] = dense(lw, n, latentChannels, side, side)
	std, err := t.reps[0].u.GraphInputs(unet.Inputs{
		Sample:     dense(noisy, n, latentChannels, side, side),
		Timesteps:  ts,
		Context:    dense(make([]float32, n*l*d), n, l, d),
		TextEmbeds: dense(make([]float32, n*p), n, p),
		TimeIDs:    dense(timeIDs, n, 6),
	})
	if err != nil {
		return nil, err
	}
	// Context and text_embeds come from the text encoders inside the graph.
	delete(std, unet.InputContext)
	delete(std, unet.InputTextEmbeds)
	for k, v := range std {
		in[k] = v
	}
	return in, nil
}

// setTailSwap sets the fraction of rows trained with another caption's context tail and
// pooled embedding; call it before the first step (the graphs are built then).
func (t *unetTrainer) setTailSwap(p float64) {
	t.tailSwap = p
	for _, d := range t.reps {
		d.tailSwap = p > 0
	}
}

// tailInputs encodes the donor captions and draws which rows take a donor's context
// from their own end-of-text token on, and its pooled embedding (d is the context
// width, p the pooled one).
func (t *unetTrainer) tailInputs(in map[string]*tensor.Dense, batch unetBatch, ids1 [][]int, d, p int) error {
	n := len(batch.Captions)
	if len(batch.Donors) != n {
		return fmt.Errorf("unet batch: %d donor captions for %d rows", len(batch.Donors), n)
	}
	don1 := make([][]int, n)
	don2 := make([][]int, n)
	for i, c := range batch.Donors {
		don1[i] = t.tok1.EncodePadded(c)
		don2[i] = t.tok2.EncodePadded(c)
	}
	var err error
	dt := tensor.Float32
	if in[inTailIDs1], err = clip.IDsTensor(dt, don1); err != nil {
		return err
	}
	if in[inTailIDs2], err = clip.IDsTensor(dt, don2); err != nil {
		return err
	}
	if in[inTailSel2], err = clip.PoolSelectTensor(dt, don2); err != nil {
		return err
	}
	l := len(ids1[0])
	own := make([]float32, n*l*d)
	take := make([]float32, n*l*d)
	pooledOwn := make([]float32, n*p)
	pooledTake := make([]float32, n*p)
	for i := range n {
		from := l // keep everything
		if t.rng.Float64() < t.tailSwap {
			from = slices.Index(ids1[i], t.tok1.EOS())
			if from < 0 {
				from = l
			}
		}
		row := own[i*l*d : (i+1)*l*d]
		fill(row[:from*d], 1)
		fill(take[i*l*d+from*d:(i+1)*l*d], 1)
		if from < l {
			fill(pooledTake[i*p:(i+1)*p], 1)
		} else {
			fill(pooledOwn[i*p:(i+1)*p], 1)
		}
	}
	in[inTailOwn] = dense(own, n, l, d)
	in[inTailTake] = dense(take, n, l, d)
	in[inPooledOwn] = dense(pooledOwn, n, p)
	in[inPooledTake] = dense(pooledTake, n, p)
	return nil
}

func fill(x []float32, v float32) {
	for i := range x {
		x[i] = v
	}
}

// step trains on one batch.
func (t *unetTrainer) step(step int, batch unetBatch) (unetStats, error) {
	in, err := t.inputs(batch)
	if err != nil {
		return unetStats{}, fmt.Errorf("unet step %d: %w", step, err)
	}
	loss, out, err := t.set.run(in, len(batch.Captions), outPred)
	if err != nil {
		return unetStats{}, fmt.Errorf("unet step %d: %w", step, err)
	}
	st := unetStats{Loss: loss, MSE: mse(out[outPred], in[inEpsilon].Data().([]float32))}
	if !finite(st.Loss) {
		return st, fmt.Errorf("unet step %d: loss is %v", step, st.Loss)
	}
	st.GradNorm, err = t.set.update(t.opt, t.lr, step)
	return st, err
}

// Close releases the compiled graphs.
func (t *unetTrainer) Close() error { return t.set.Close() }
