package base

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"time"

	"github.com/latexblend/latexblend/model/vae"
	"github.com/latexblend/latexblend/shapes"
)

// Config sets a training run. DefaultConfig is the committed model's recipe.
type Config struct {
	Seed uint64
	// VAESteps and UNetSteps are the optimiser steps of the two phases.
	VAESteps, UNetSteps int
	VAEBatch, UNetBatch int
	VAELR, UNetLR       float64
	// VAECrop is the side of the random window of each rendered image the VAE trains on
	// (a multiple of 4; ImageSize or 0 for whole images). The autoencoder is fully
	// convolutional but for its mid-block attention, so small crops give it several
	// times more updates per second at the same per-pixel signal.
	VAECrop int
	// KLWeight scales the VAE's KL term (per latent value) against the per-pixel MSE.
	KLWeight float64
	// PoolSize is the number of rendered scenes whose latents the UNet phase draws
	// from (each draw takes a fresh posterior sample and fresh noise).
	PoolSize int
	// MinSNRGamma, if > 0, weights each row's epsilon loss by min(SNR(t), γ)/SNR(t)
	// (Hang et al., "Efficient Diffusion Training via Min-SNR Weighting", 2023), which
	// stops the nearly clean timesteps, easy and plentiful, from dominating the
	// gradient; 0 is the plain mean squared error.
	MinSNRGamma float64
	// EMADecay, if > 0, keeps an exponential moving average of the UNet and text
	// encoder weights and writes the averages (checkpoints included).
	EMADecay float64
	// Replicas is how many copies of the model being trained (the VAE, then the UNet
	// and text encoders) run each step's batch side by side, data-parallel inside the
	// process (0 or 1: one; see replicaSet). A single graph of the tiny model keeps only
	// about 1.2 cores busy; 2 replicas make a batch-8 UNet step about 1.6× faster on 2
	// cores. The result differs from one replica's only by float rounding (the gradient
	// is summed in another order).
	Replicas int
	// TailSwap is the fraction of UNet rows whose context from the end-of-text token on
	// (the EOS and padding positions) and whose pooled embedding (encoder 2's EOS state)
	// are another caption's. Those positions attend to every word of a causal CLIP
	// encoder's prompt, so a UNet trained from scratch learns to read the whole prompt
	// there, and edits of a word's keys and values (LatexBlend's replacement) then
	// change little. With the tails unreliable, the words are what the UNet must read.
	// A model whose rows all kept their own pooled embedding drew a texture only when
	// the pooled embedding named it as well, so LatexBlend, which keeps the plain
	// prompt's, could bring in shapes but no textures.
	TailSwap float64
	// CaptionDropout is the fraction of UNet rows trained with zeroed conditioning.
	CaptionDropout float64
	// SaveEvery writes the folder every that many UNet steps (0: only at the end), so a
	// long run can be inspected while it goes on.
	SaveEvery int
	// LogEvery is the step interval of progress reports.
	LogEvery int
	Log      *slog.Logger
	// Progress, if set, receives every progress report.
	Progress func(Progress)
}

// DefaultConfig is the recipe of the committed shapes/model.
func DefaultConfig() Config {
	return Config{
		Seed:     1,
		VAESteps: 6000, VAEBatch: 4, VAECrop: 32, VAELR: 2e-3, KLWeight: 1e-5,
		UNetSteps: 22000, UNetBatch: 8, UNetLR: 1e-3, MinSNRGamma: 5, EMADecay: 0.999,
		PoolSize: 10000, CaptionDropout: 0.1, Replicas: 2, TailSwap: 0.5,
		LogEvery: 10,
	}
}

// Progress is one progress report.
type Progress struct {
	Phase       string // "vae", "latents", "unet"
	Step, Steps int
	Loss        float64 // mean over the last report interval
	Detail      string  // phase-specific key=value pairs
	Elapsed     time.Duration
	ETA         time.Duration // of the phase
}

// Result summarises a finished run.
type Result struct {
	VAERecon      float64 // mean per-pixel MSE (images in [-1, 1]) over the last 10% of VAE steps
	UNetLoss      float64 // mean epsilon MSE over the last 10% of UNet steps
	ScalingFactor float64
	VAETime       time.Duration
	LatentTime    time.Duration
	UNetTime      time.Duration
}

// stream seeds of the run's independent random streams.
const (
	vaeDataStream  = 0x7661652d64617461 // "vae-data"
	poolDataStream = 0x706f6f6c2d646174 // "pool-dat"
	poolDrawStream = 0x706f6f6c2d647277 // "pool-drw"
	vaeCropStream  = 0x7661652d63726f70 // "vae-crop"
)

// Train trains the base model from scratch and writes the diffusers folder to dir
// (created if needed). The context is checked between steps.
func Train(ctx context.Context, dir string, cfg Config) (res *Result, err error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := writeStatic(dir); err != nil {
		return nil, err
	}
	m, err := newModel(dir, cfg.Seed)
	if err != nil {
		return nil, err
	}
	defer func() { err = errors.Join(err, m.Close()) }()
	res = &Result{}
	meta := map[string]string{"trained_by": "latexblend shapes train-base", "seed": fmt.Sprint(cfg.Seed),
		"vae_steps": fmt.Sprint(cfg.VAESteps), "unet_steps": fmt.Sprint(cfg.UNetSteps)}

	start := time.Now()
	if res.VAERecon, err = trainVAE(ctx, m, cfg); err != nil {
		return nil, err
	}
	res.VAETime = time.Since(start)
	log.Info("vae trained", "recon_mse", res.VAERecon, "seconds", res.VAETime.Seconds())

	start = time.Now()
	pool, err := encodePool(ctx, m, cfg)
	if err != nil {
		return nil, err
	}
	res.ScalingFactor = m.vae.Config.ScalingFactor
	res.LatentTime = time.Since(start)
	log.Info("latents encoded", "scenes", cfg.PoolSize, "scaling_factor", res.ScalingFactor, "seconds", res.LatentTime.Seconds())
	if err := writeModel(dir, m, meta); err != nil {
		return nil, err
	}

	start = time.Now()
	if res.UNetLoss, err = trainUNet(ctx, dir, m, pool, cfg, meta); err != nil {
		return nil, err
	}
	res.UNetTime = time.Since(start)
	if err := writeModel(dir, m, meta); err != nil {
		return nil, err
	}
	log.Info("unet trained", "loss", res.UNetLoss, "seconds", res.UNetTime.Seconds(), "out", dir)
	return res, nil
}

func (c *Config) check() error {
	for _, f := range []struct {
		name string
		v    int
	}{{"VAESteps", c.VAESteps}, {"UNetSteps", c.UNetSteps}, {"VAEBatch", c.VAEBatch}, {"UNetBatch", c.UNetBatch}, {"PoolSize", c.PoolSize}} {
		if f.v < 1 {
			return fmt.Errorf("shapes/base: config %s = %d, want at least 1", f.name, f.v)
		}
	}
	if c.VAELR <= 0 || c.UNetLR <= 0 {
		return fmt.Errorf("shapes/base: learning rates must be > 0 (VAELR %g, UNetLR %g)", c.VAELR, c.UNetLR)
	}
	if c.VAECrop == 0 {
		c.VAECrop = ImageSize
	}
	if c.VAECrop < vaeDownFactor || c.VAECrop > ImageSize || c.VAECrop%vaeDownFactor != 0 {
		return fmt.Errorf("shapes/base: config VAECrop = %d, want a multiple of %d from %d to %d", c.VAECrop, vaeDownFactor, vaeDownFactor, ImageSize)
	}
	if c.MinSNRGamma < 0 || c.EMADecay < 0 || c.EMADecay >= 1 {
		return fmt.Errorf("shapes/base: MinSNRGamma %g must be >= 0 and EMADecay %g in [0, 1)", c.MinSNRGamma, c.EMADecay)
	}
	if c.TailSwap < 0 || c.TailSwap > 1 {
		return fmt.Errorf("shapes/base: TailSwap %g, want 0 <= p <= 1", c.TailSwap)
	}
	if c.CaptionDropout < 0 || c.CaptionDropout >= 1 {
		return fmt.Errorf("shapes/base: CaptionDropout %g, want 0 <= p < 1", c.CaptionDropout)
	}
	if c.Replicas < 0 || c.Replicas > c.UNetBatch {
		return fmt.Errorf("shapes/base: config Replicas = %d, want 0 to UNetBatch (%d)", c.Replicas, c.UNetBatch)
	}
	// The VAE phase uses min(Replicas, VAEBatch) of them.
	if c.Replicas == 0 {
		c.Replicas = 1
	}
	if c.LogEvery < 1 {
		c.LogEvery = 10
	}
	return nil
}

// reporter averages losses over a report interval and estimates the phase's ETA.
type reporter struct {
	cfg   Config
	phase string
	steps int
	start time.Time
	sum   float64
	n     int
	tail  []float64 // losses of the last 10% of steps
}

func newReporter(cfg Config, phase string, steps int) *reporter {
	return &reporter{cfg: cfg, phase: phase, steps: steps, start: time.Now()}
}

func (r *reporter) add(step int, loss float64, detail string) {
	r.sum += loss
	r.n++
	if step >= r.steps-max(1, r.steps/10) {
		r.tail = append(r.tail, loss)
	}
	done := step + 1
	if done%r.cfg.LogEvery != 0 && done != r.steps {
		return
	}
	el := time.Since(r.start)
	p := Progress{Phase: r.phase, Step: done, Steps: r.steps, Loss: r.sum / float64(r.n), Detail: detail,
		Elapsed: el, ETA: time.Duration(float64(el) / float64(done) * float64(r.steps-done))}
	r.sum, r.n = 0, 0
	if r.cfg.Log != nil {
		r.cfg.Log.Info("progress", "phase", p.Phase, "step", p.Step, "steps", p.Steps, "loss", p.Loss,
			"detail", detail, "elapsed", el.Round(time.Second), "eta", p.ETA.Round(time.Second))
	}
	if r.cfg.Progress != nil {
		r.cfg.Progress(p)
	}
}

func (r *reporter) tailMean() float64 {
	var s float64
	for _, v := range r.tail {
		s += v
	}
	return s / math.Max(1, float64(len(r.tail)))
}

func trainVAE(ctx context.Context, m *model, cfg Config) (float64, error) {
	lr := lrSchedule{Peak: cfg.VAELR, Warmup: min(50, cfg.VAESteps/10), Total: cfg.VAESteps, Floor: 0.05}
	vaes := []*vae.Model{m.vae}
	for range min(cfg.Replicas, cfg.VAEBatch) - 1 {
		c, err := m.vaeCopy()
		if err != nil {
			return 0, err
		}
		defer c.Close()
		vaes = append(vaes, c)
	}
	t, err := newVAETrainer(vaes, cfg.Seed, lr, cfg.KLWeight)
	if err != nil {
		return 0, err
	}
	defer t.Close()
	rep := newReporter(cfg, "vae", cfg.VAESteps)
	recon := newReporter(cfg, "vae", cfg.VAESteps)
	crops := rand.New(rand.NewPCG(cfg.Seed, vaeCropStream))
	for step := range cfg.VAESteps {
		if err := ctx.Err(); err != nil {
			return 0, fmt.Errorf("vae training stopped before step %d: %w", step, err)
		}
		x, _, err := renderBatch(shapes.Derive(cfg.Seed^vaeDataStream, step), cfg.VAEBatch)
		if err != nil {
			return 0, err
		}
		if x, err = cropBatch(crops, x, cfg.VAECrop, vaeDownFactor); err != nil {
			return 0, err
		}
		st, err := t.step(step, x)
		if err != nil {
			return 0, err
		}
		recon.tail = appendTail(recon.tail, step, cfg.VAESteps, st.Recon)
		rep.add(step, st.Loss, fmt.Sprintf("recon_mse=%.5f kl=%.3f grad_norm=%.3f lr=%.2g", st.Recon, st.KL, st.GradNorm, t.opt.LR))
	}
	return recon.tailMean(), nil
}

func appendTail(tail []float64, step, steps int, v float64) []float64 {
	if step >= steps-max(1, steps/10) {
		return append(tail, v)
	}
	return tail
}

// latentPool holds the posterior of every pool scene: mean and std [n, 4, h, w]
// (unscaled) and the captions.
type latentPool struct {
	mean, std []float32
	captions  []string
}

// encodePool renders the UNet's training scenes, encodes them with the trained VAE and
// sets the VAE's scaling_factor to 1/std of the latent means, as Stable Diffusion's
// factor was chosen, so scaled latents have unit variance.
func encodePool(ctx context.Context, m *model, cfg Config) (*latentPool, error) {
	const chunk = 32
	p := &latentPool{}
	var sum, sum2 float64
	samples, err := shapes.Dataset(cfg.Seed^poolDataStream, cfg.PoolSize, ImageSize)
	if err != nil {
		return nil, err
	}
	for from := 0; from < cfg.PoolSize; from += chunk {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("encoding the latent pool stopped at scene %d: %w", from, err)
		}
		x, caps, err := imagesOf(samples[from:min(from+chunk, cfg.PoolSize)])
		if err != nil {
			return nil, err
		}
		d, err := m.vae.Encode(x)
		if err != nil {
			return nil, err
		}
		mean := d.Mean.Data().([]float32)
		for _, v := range mean {
			sum += float64(v)
			sum2 += float64(v) * float64(v)
		}
		p.mean = append(p.mean, mean...)
		p.std = append(p.std, d.Std.Data().([]float32)...)
		p.captions = append(p.captions, caps...)
	}
	n := float64(len(p.mean))
	mu := sum / n
	sd := math.Sqrt(math.Max(sum2/n-mu*mu, 1e-12))
	m.vae.Config.ScalingFactor = 1 / sd
	return p, nil
}

func trainUNet(ctx context.Context, dir string, m *model, pool *latentPool, cfg Config, meta map[string]string) (float64, error) {
	lr := lrSchedule{Peak: cfg.UNetLR, Warmup: min(100, cfg.UNetSteps/10), Total: cfg.UNetSteps, Floor: 0.05}
	reps := []*denoiser{m.denoiser()}
	for range cfg.Replicas - 1 {
		d, err := m.denoiserCopy()
		if err != nil {
			return 0, err
		}
		defer d.u.Release()
		reps = append(reps, d)
	}
	t, err := newUNetTrainer(reps, m.tok1, m.tok2, cfg.Seed, lr, cfg.CaptionDropout)
	if err != nil {
		return 0, err
	}
	defer t.Close()
	t.snrGamma = cfg.MinSNRGamma
	t.setTailSwap(cfg.TailSwap)
	var avg *ema
	if cfg.EMADecay > 0 {
		avg = newEMA(t.params, cfg.EMADecay)
	}
	// write saves the folder with the averaged weights, if any, in place of the live ones.
	write := func(meta map[string]string) error {
		if avg == nil {
			return writeModel(dir, m, meta)
		}
		avg.swap()
		err := writeModel(dir, m, meta)
		avg.swap()
		return err
	}
	rng := rand.New(rand.NewPCG(cfg.Seed, poolDrawStream))
	per := latentChannels * LatentSize * LatentSize
	scale := float32(m.vae.Config.ScalingFactor)
	rep := newReporter(cfg, "unet", cfg.UNetSteps)
	for step := range cfg.UNetSteps {
		if err := ctx.Err(); err != nil {
			return 0, fmt.Errorf("unet training stopped before step %d: %w", step, err)
		}
		b := unetBatch{Latents: make([]float32, 0, cfg.UNetBatch*per)}
		for range cfg.UNetBatch {
			i := rng.IntN(len(pool.captions))
			mean, std := pool.mean[i*per:(i+1)*per], pool.std[i*per:(i+1)*per]
			for j := range per {
				b.Latents = append(b.Latents, (mean[j]+std[j]*float32(rng.NormFloat64()))*scale)
			}
			b.Captions = append(b.Captions, pool.captions[i])
		}
		if cfg.TailSwap > 0 {
			for range cfg.UNetBatch {
				b.Donors = append(b.Donors, pool.captions[rng.IntN(len(pool.captions))])
			}
		}
		st, err := t.step(step, b)
		if err != nil {
			return 0, err
		}
		if avg != nil {
			avg.update()
		}
		rep.add(step, st.MSE, fmt.Sprintf("weighted_loss=%.4f grad_norm=%.3f lr=%.2g", st.Loss, st.GradNorm, t.opt.LR))
		if cfg.SaveEvery > 0 && (step+1)%cfg.SaveEvery == 0 && step+1 < cfg.UNetSteps {
			meta := maps(meta, "unet_steps_done", fmt.Sprint(step+1))
			if err := write(meta); err != nil {
				return 0, err
			}
			if cfg.Log != nil {
				cfg.Log.Info("checkpoint written", "step", step+1, "out", dir)
			}
		}
	}
	if avg != nil {
		avg.swap() // the caller writes the final folder from the live parameters
	}
	return rep.tailMean(), nil
}

// maps returns a copy of m with k set to v.
func maps(m map[string]string, k, v string) map[string]string {
	out := make(map[string]string, len(m)+1)
	for a, b := range m {
		out[a] = b
	}
	out[k] = v
	return out
}
