package base

import (
	"fmt"
	"math"
	"math/rand/v2"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/latexblend/latexblend/model/vae"
	"github.com/latexblend/latexblend/nn"
)

// Graph inputs of the VAE training step.
const (
	inImage    = "image"     // [B, 3, H, W] in [-1, 1]
	inVAENoise = "vae_noise" // [B, h·w, latent] the posterior sample's noise, channels last
	outRecon   = "recon"     // [B, 3, H, W] the reconstruction
	outMean    = "mean"      // [B, h·w, latent] the posterior mean
	outLogVar  = "logvar"    // [B, h·w, latent] its log-variance
)

// vaeTrainer trains an AutoencoderKL on rendered scenes: the posterior sample's
// reconstruction error plus a small KL term keeping the latents near N(0, I), so the
// encoder's log-variance is trained too (Custom Diffusion encodes with a sample).
type vaeTrainer struct {
	m        *vae.Model // the first replica, which the optimiser updates
	set      *replicaSet
	opt      *nn.AdamW
	lr       lrSchedule
	rng      *rand.Rand
	klWeight float64
	params   []*nn.Param
}

// newVAETrainer trains ms[0]; any further models are data-parallel replicas
// (replicaSet) that must hold the same weights.
func newVAETrainer(ms []*vae.Model, seed uint64, lr lrSchedule, klWeight float64) (*vaeTrainer, error) {
	t := &vaeTrainer{m: ms[0], lr: lr, klWeight: klWeight, opt: nn.NewAdamW(lr.Peak, 0),
		rng: rand.New(rand.NewPCG(seed, 0x766165))} // "vae"
	progs := make([]*nn.Program, len(ms))
	params := make([][]*nn.Param, len(ms))
	for i, m := range ms {
		m.Params.SetTrainable(func(string) bool { return true })
		params[i] = m.Params.Trainable()
		progs[i] = nn.NewProgram(m.Params, t.builder(m), nn.Hooks{})
	}
	var err error
	if t.set, err = newReplicaSet(progs, params, true); err != nil {
		return nil, fmt.Errorf("vae trainer: %w", err)
	}
	t.params = t.set.trainable()
	return t, nil
}

// builder returns the training graph of one replica.
func (t *vaeTrainer) builder(m *vae.Model) nn.BuildFunc {
	return func(b *nn.Builder) error { return t.build(b, m) }
}

func (t *vaeTrainer) build(b *nn.Builder, m *vae.Model) error {
	x, err := b.Input(inImage)
	if err != nil {
		return err
	}
	noise, err := b.Input(inVAENoise)
	if err != nil {
		return err
	}
	moments, err := m.EncodeGraph(b, x)
	if err != nil {
		return err
	}
	h, w := moments.Shape()[2], moments.Shape()[3]
	ml, err := b.ChannelsLast(moments)
	if err != nil {
		return err
	}
	mean, err := b.Chunk(ml, 2, 0)
	if err != nil {
		return err
	}
	logvar, err := b.Chunk(ml, 2, 1)
	if err != nil {
		return err
	}
	half, err := G.Mul(logvar, b.Scalar(0.5))
	if err != nil {
		return err
	}
	std, err := G.Exp(half)
	if err != nil {
		return err
	}
	eps, err := G.HadamardProd(std, noise)
	if err != nil {
		return err
	}
	z, err := G.Add(mean, eps)
	if err != nil {
		return err
	}
	zf, err := b.ChannelsFirst(z, h, w)
	if err != nil {
		return err
	}
	rec, err := m.DecodeGraph(b, zf)
	if err != nil {
		return err
	}
	mse, err := meanSquare(b, rec, x)
	if err != nil {
		return err
	}
	// KL(N(μ, σ²) ‖ N(0, 1)) = ½(μ² + σ² − 1 − log σ²); the constant has no gradient.
	m2, err := G.HadamardProd(mean, mean)
	if err != nil {
		return err
	}
	v, err := G.Exp(logvar)
	if err != nil {
		return err
	}
	kl, err := G.Add(m2, v)
	if err != nil {
		return err
	}
	if kl, err = G.Sub(kl, logvar); err != nil {
		return err
	}
	klSum, err := G.Sum(kl)
	if err != nil {
		return err
	}
	klMean, err := G.Mul(klSum, b.Scalar(0.5/float64(kl.Shape().TotalSize())))
	if err != nil {
		return err
	}
	weighted, err := G.Mul(klMean, b.Scalar(t.klWeight))
	if err != nil {
		return err
	}
	loss, err := G.Add(mse, weighted)
	if err != nil {
		return err
	}
	// Outputs must be tensors, so the statistics are computed on the host.
	b.Output(outRecon, rec)
	b.Output(outMean, mean)
	b.Output(outLogVar, logvar)
	b.Loss(loss)
	return nil
}

// meanSquare is mean((a − b)²) over every element.
func meanSquare(b *nn.Builder, a, c *G.Node) (*G.Node, error) {
	sq, err := squaredDiff(a, c)
	if err != nil {
		return nil, err
	}
	s, err := G.Sum(sq)
	if err != nil {
		return nil, err
	}
	return G.Mul(s, b.Scalar(1/float64(sq.Shape().TotalSize())))
}

// squaredDiff is (a − c)² elementwise.
func squaredDiff(a, c *G.Node) (*G.Node, error) {
	d, err := G.Sub(a, c)
	if err != nil {
		return nil, err
	}
	return G.HadamardProd(d, d)
}

// vaeStats is one step's outcome.
type vaeStats struct {
	Loss, Recon, KL, GradNorm float64
}

// step trains on one batch of images [B, 3, H, W].
func (t *vaeTrainer) step(step int, x *tensor.Dense) (vaeStats, error) {
	s := x.Shape()
	hw := (s[2] / t.m.DownFactor()) * (s[3] / t.m.DownFactor())
	lc := t.m.LatentChannels()
	noise := dense(normals(t.rng, s[0]*hw*lc), s[0], hw, lc)
	loss, out, err := t.set.run(map[string]*tensor.Dense{inImage: x, inVAENoise: noise}, s[0], outRecon, outMean, outLogVar)
	if err != nil {
		return vaeStats{}, fmt.Errorf("vae step %d: %w", step, err)
	}
	st := vaeStats{Loss: loss, Recon: mse(out[outRecon], x.Data().([]float32)), KL: klPerDim(out[outMean], out[outLogVar])}
	if !finite(st.Loss) {
		return st, fmt.Errorf("vae step %d: loss is %v", step, st.Loss)
	}
	st.GradNorm, err = t.set.update(t.opt, t.lr, step)
	return st, err
}

// scalarOf reads a one-element tensor.
func scalarOf(x *tensor.Dense) float64 {
	switch d := x.Data().(type) {
	case []float32:
		return float64(d[0])
	case float32:
		return float64(d)
	case []float64:
		return d[0]
	case float64:
		return d
	}
	return 0
}

// Close releases the compiled graph.
func (t *vaeTrainer) Close() error { return t.set.Close() }

// mse is mean((a − b)²).
func mse(a, b []float32) float64 {
	var s float64
	for i := range a {
		d := float64(a[i]) - float64(b[i])
		s += d * d
	}
	return s / float64(len(a))
}

// klPerDim is the mean of ½(μ² + σ² − 1 − log σ²) over the latent values.
func klPerDim(mean, logvar []float32) float64 {
	var s float64
	for i := range mean {
		m, lv := float64(mean[i]), float64(logvar[i])
		s += 0.5 * (m*m + math.Exp(lv) - 1 - lv)
	}
	return s / float64(len(mean))
}
