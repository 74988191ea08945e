package trainer

import (
	"context"
	"fmt"
	"image"
	"image/color"
	"math/rand/v2"
	"strings"
	"sync"
	"time"
)

// BenchConfig configures RunBench.
type BenchConfig struct {
	// ModelDir is the model to train (the tiny test model for the standard numbers).
	ModelDir string
	// Steps per run; the first (graph compilation) is not timed.
	Steps int
	// Ranks lists the gang sizes to measure (default 1 and 2).
	Ranks      []int
	Resolution int
	Batch      int
	// NATSURL is the ring's server (empty: an embedded one).
	NATSURL string
	// TokenOnly trains the token rows alone (Recipe.TokenOnly).
	TokenOnly bool
}

// BenchRun is one gang size's measurement.
type BenchRun struct {
	Ranks int
	// StepsPerSec is optimizer steps per second after the first step; StepMS its inverse.
	StepsPerSec, StepMS float64
	// AllReduceShare is the fraction of rank 0's step time spent in the all-reduce.
	AllReduceShare float64
	// AllReduceFloats is how many values a step's all-reduce averages (gradients and
	// the three losses); 0 for one rank.
	AllReduceFloats int
}

// BenchResult holds every run.
type BenchResult struct {
	Runs       []BenchRun
	Resolution int
	Steps      int
	TokenOnly  bool
}

// Line is the key=value summary.
func (r BenchResult) Line() string {
	var b strings.Builder
	for _, run := range r.Runs {
		fmt.Fprintf(&b, "steps_per_sec_%d=%.3f step_ms_%d=%.1f allreduce_share_%d=%.4f allreduce_floats_%d=%d ",
			run.Ranks, run.StepsPerSec, run.Ranks, run.StepMS, run.Ranks, run.AllReduceShare, run.Ranks, run.AllReduceFloats)
	}
	fmt.Fprintf(&b, "resolution=%d steps=%d token_only=%t", r.Resolution, r.Steps, r.TokenOnly)
	return b.String()
}

// timedReducer records how long each all-reduce takes and how many values it averages.
type timedReducer struct {
	inner  Reducer
	mu     sync.Mutex
	calls  []time.Duration
	floats int // of the last call
}

func (t *timedReducer) AllReduce(ctx context.Context, op allreduceOp, bufs ...[]float32) error {
	start := time.Now()
	var err error
	if t.inner != nil {
		err = t.inner.AllReduce(ctx, op, bufs...)
	}
	n := 0
	for _, b := range bufs {
		n += len(b)
	}
	t.mu.Lock()
	t.calls = append(t.calls, time.Since(start))
	t.floats = n
	t.mu.Unlock()
	return err
}

// RunBench trains the model on synthetic images for each gang size and measures
// steps per second and the all-reduce's share of the step time.
func RunBench(ctx context.Context, cfg BenchConfig) (BenchResult, error) {
	if cfg.Steps < 2 {
		cfg.Steps = 6
	}
	if len(cfg.Ranks) == 0 {
		cfg.Ranks = []int{1, 2}
	}
	if cfg.Resolution == 0 {
		cfg.Resolution = 64
	}
	if cfg.Batch == 0 {
		cfg.Batch = 1
	}
	inst, reg := benchImages(2, 1), benchImages(2, 2)
	res := BenchResult{Resolution: cfg.Resolution, Steps: cfg.Steps, TokenOnly: cfg.TokenOnly}
	for _, n := range cfg.Ranks {
		r := DefaultRecipe("dog")
		r.Steps, r.Resolution, r.Batch, r.TokenOnly = cfg.Steps, cfg.Resolution, cfg.Batch, cfg.TokenOnly
		var stamps []time.Time
		var timer *timedReducer
		_, err := RunLocal(ctx, LocalConfig{
			ModelDir: cfg.ModelDir, Recipe: r, Instances: inst, Reg: reg, Ranks: n, NATSURL: cfg.NATSURL,
			OnStep: func(StepResult) { stamps = append(stamps, time.Now()) },
			WrapReducer: func(rank int, red Reducer) Reducer {
				if rank != 0 {
					return red
				}
				timer = &timedReducer{inner: red}
				return timer
			},
		}, false)
		if err != nil {
			return res, fmt.Errorf("bench with %d ranks: %w", n, err)
		}
		el := stamps[len(stamps)-1].Sub(stamps[0])
		run := BenchRun{Ranks: n}
		if el > 0 {
			run.StepsPerSec = float64(len(stamps)-1) / el.Seconds()
			run.StepMS = el.Seconds() * 1000 / float64(len(stamps)-1)
			var red time.Duration
			for _, d := range timer.calls[1:] {
				red += d
			}
			if n > 1 {
				run.AllReduceShare = red.Seconds() / el.Seconds()
				run.AllReduceFloats = timer.floats
			}
		}
		res.Runs = append(res.Runs, run)
	}
	return res, nil
}

// benchImages makes n synthetic 96×96 images.
func benchImages(n int, seed uint64) []Image {
	rng := rand.New(rand.NewPCG(seed, 3))
	var out []Image
	for i := range n {
		img := image.NewRGBA(image.Rect(0, 0, 96, 96))
		for y := range 96 {
			for x := range 96 {
				img.Set(x, y, color.RGBA{uint8(rng.IntN(256)), uint8(x * 2), uint8(y * 2), 255})
			}
		}
		out = append(out, Image{Name: fmt.Sprintf("synthetic-%d", i), Img: img})
	}
	return out
}
