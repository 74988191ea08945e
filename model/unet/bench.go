package unet

import (
	"context"
	"fmt"
	"io"
	"math/rand"
	"syscall"
	"time"

	"gorgonia.org/tensor"

	"github.com/latexblend/latexblend/model/diffusers"
	"github.com/latexblend/latexblend/nn"
)

// BenchConfig sizes `latexblend bench unet`.
type BenchConfig struct {
	// Reps is the number of timed forwards per model after one untimed warm-up (which
	// compiles the graph); the best time counts. 0 means 3.
	Reps int
	// TinyBatch/TinySize: batch and latent side of the tiny UNet (0: 2 and 32, the
	// golden case's shapes).
	TinyBatch, TinySize int
	// MidBatch/MidSize: batch and latent side of the mid-size UNet (0: 1 and 32).
	MidBatch, MidSize int
	// Tokens is the context length (0: 77).
	Tokens int
	// GEMM is the side of the square SGEMM that measures the backend (0: 1024).
	GEMM int
	// Tiny and Mid replace the built-in configs (TinyConfig, MidConfig) when set.
	Tiny, Mid *diffusers.UNetConfig
	// Progress, when set, receives one line per measurement.
	Progress io.Writer
}

// BenchResult is one benchmark run.
type BenchResult struct {
	Backend               string
	TinyMS, MidMS         float64 // best forward time
	TinyFLOP, MidFLOP     float64 // counted work per forward (CountFLOPs)
	SGEMMGFLOPS           float64 // the backend's direct SGEMM rate in this run
	TinyGFLOPS            float64
	MidGFLOPS             float64
	PeakMB                float64 // the process's peak resident set
	TinyParams, MidParams int
}

// Efficiency is the mid-size UNet's achieved rate as a fraction of SGEMM's.
func (r BenchResult) Efficiency() float64 { return r.MidGFLOPS / r.SGEMMGFLOPS }

// Line is the machine-readable summary.
func (r BenchResult) Line() string {
	return fmt.Sprintf("tiny_ms=%.2f mid_ms=%.1f tiny_gflops=%.2f mid_gflops=%.2f sgemm_gflops=%.2f efficiency=%.3f peak_mb=%.0f mid_gflop=%.2f backend=%s",
		r.TinyMS, r.MidMS, r.TinyGFLOPS, r.MidGFLOPS, r.SGEMMGFLOPS, r.Efficiency(), r.PeakMB, r.MidFLOP/1e9, r.Backend)
}

// RunBench times UNet forwards (inference path: compiled graph, no gradients) of the
// tiny and the mid-size config with random weights, counts their FLOPs, and measures
// the backend's SGEMM rate in the same process.
func RunBench(ctx context.Context, cfg BenchConfig) (BenchResult, error) {
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	def(&cfg.Reps, 3)
	def(&cfg.TinyBatch, 2)
	def(&cfg.TinySize, 32)
	def(&cfg.MidBatch, 1)
	def(&cfg.MidSize, 32)
	def(&cfg.Tokens, 77)
	def(&cfg.GEMM, 1024)
	say := func(format string, args ...any) {
		if cfg.Progress != nil {
			fmt.Fprintf(cfg.Progress, format+"\n", args...)
		}
	}
	if cfg.Tiny == nil {
		cfg.Tiny = TinyConfig()
	}
	if cfg.Mid == nil {
		cfg.Mid = MidConfig()
	}
	res := BenchResult{Backend: nn.BLASBackend()}
	// SGEMM is measured before and after the UNets and the better rate counts, so a
	// burst of load from other processes during one measurement does not inflate the
	// efficiency.
	sgemm := func() error {
		g, err := nn.BenchGEMM(ctx, nn.GEMMBenchConfig{M: cfg.GEMM, N: cfg.GEMM, K: cfg.GEMM, Reps: cfg.Reps})
		if err != nil {
			return err
		}
		res.SGEMMGFLOPS = max(res.SGEMMGFLOPS, g.DirectGFLOPS())
		say("sgemm %d³: %.2f GFLOP/s (%s)", cfg.GEMM, g.DirectGFLOPS(), res.Backend)
		return nil
	}
	if err := sgemm(); err != nil {
		return res, err
	}
	for _, c := range []struct {
		name        string
		cfg         *diffusers.UNetConfig
		batch, size int
		ms, flop    *float64
		params      *int
	}{
		{"tiny", cfg.Tiny, cfg.TinyBatch, cfg.TinySize, &res.TinyMS, &res.TinyFLOP, &res.TinyParams},
		{"mid", cfg.Mid, cfg.MidBatch, cfg.MidSize, &res.MidMS, &res.MidFLOP, &res.MidParams},
	} {
		ms, flop, n, err := timeForward(ctx, c.cfg, c.batch, c.size, cfg.Tokens, cfg.Reps)
		if err != nil {
			return res, fmt.Errorf("unet bench %s: %w", c.name, err)
		}
		*c.ms, *c.flop, *c.params = ms, flop, n
		say("%s: %d params, batch %d, %dx%d latent, %d tokens: %.2f GFLOP in %.2f ms = %.2f GFLOP/s",
			c.name, n, c.batch, c.size, c.size, cfg.Tokens, flop/1e9, ms, flop/ms/1e6)
	}
	if err := sgemm(); err != nil {
		return res, err
	}
	res.TinyGFLOPS = res.TinyFLOP / res.TinyMS / 1e6
	res.MidGFLOPS = res.MidFLOP / res.MidMS / 1e6
	res.PeakMB = peakRSSMB()
	return res, nil
}

func timeForward(ctx context.Context, cfg *diffusers.UNetConfig, batch, size, tokens, reps int) (ms, flop float64, params int, err error) {
	m, err := New(cfg, tensor.Float32)
	if err != nil {
		return 0, 0, 0, err
	}
	defer m.Release()
	rng := rand.New(rand.NewSource(1))
	m.Params().Randomize(rng, 0.02)
	a := m.plan
	in := Inputs{
		Sample:    randTensor(rng, batch, a.inCh, size, size),
		Timesteps: []float64{500},
		Context:   randTensor(rng, batch, tokens, a.down[0].crossDim),
	}
	if a.addTimeDim > 0 {
		// SDXL has 6 time ids (original size, crop, target size); configs too small
		// for 6 take as many as leave a pooled embedding.
		nIDs := 6
		for nIDs > 1 && a.addInDim-nIDs*a.addTimeDim < 1 {
			nIDs--
		}
		in.TextEmbeds = randTensor(rng, batch, a.addInDim-nIDs*a.addTimeDim)
		in.TimeIDs = randTensor(rng, batch, nIDs)
	}
	f, err := CountFLOPs(cfg, batch, size, size, tokens)
	if err != nil {
		return 0, 0, 0, err
	}
	best := 0.0
	for i := 0; i <= reps; i++ { // run 0 compiles the graph and is not timed
		if err := ctx.Err(); err != nil {
			return 0, 0, 0, err
		}
		start := time.Now()
		if _, err := m.Forward(ctx, in, Options{}); err != nil {
			return 0, 0, 0, err
		}
		el := float64(time.Since(start).Microseconds()) / 1e3
		if i > 0 && (best == 0 || el < best) {
			best = el
		}
	}
	return best, f.Total(), m.Params().Count(), nil
}

func randTensor(rng *rand.Rand, shape ...int) *tensor.Dense {
	n := 1
	for _, d := range shape {
		n *= d
	}
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(rng.NormFloat64())
	}
	return tensor.New(tensor.WithShape(shape...), tensor.WithBacking(v))
}

// peakRSSMB is the process's peak resident set size (Linux reports it in KiB).
func peakRSSMB() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return float64(ru.Maxrss) / 1024
}
