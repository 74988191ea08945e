package judge

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"time"

	"gorgonia.org/tensor"

	"github.com/latexblend/latexblend/nn"
	"github.com/latexblend/latexblend/shapes"
)

// TrainConfig sets up Train. The zero value of a field means its default.
type TrainConfig struct {
	Seed      uint64  // data and initialisation seed (default 1)
	Steps     int     // optimizer steps (default 800)
	Batch     int     // object crops per step (default 64)
	LR        float64 // peak AdamW learning rate (default 2e-3)
	TextureOf [2]int  // chance num/den that an object is textured (default 1/2)
	Log       *slog.Logger
	// Progress, when set, is called after every step with the step number (1-based) and
	// that step's loss.
	Progress func(step int, loss float64)
}

func (c TrainConfig) withDefaults() TrainConfig {
	if c.Seed == 0 {
		c.Seed = 1
	}
	if c.Steps == 0 {
		c.Steps = 800
	}
	if c.Batch == 0 {
		c.Batch = 64
	}
	if c.LR == 0 {
		c.LR = 2e-3
	}
	if c.TextureOf == [2]int{} {
		c.TextureOf = [2]int{1, 2}
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	return c
}

// TrainingScene is scene i of the judge's training stream for seed: the base
// distribution with textured objects mixed in, so every texture appears on every class.
func TrainingScene(seed uint64, i int, texNum, texDen int) shapes.Scene {
	return shapes.MixedScene(shapes.NewRand(shapes.Derive(seed, i)), shapes.PatternTextures(), texNum, texDen)
}

// batch is one step's inputs.
type batch struct {
	images *tensor.Dense
	labels *tensor.Dense
}

// Train fits a new network on the objects of freshly rendered, augmented scenes (never
// on generated images) with AdamW and a warmup + cosine learning-rate schedule.
func Train(ctx context.Context, cfg TrainConfig) (*Judge, error) {
	cfg = cfg.withDefaults()
	if cfg.Steps < 0 || cfg.Batch <= 0 || cfg.LR < 0 || cfg.TextureOf[0] < 0 || cfg.TextureOf[1] <= 0 {
		return nil, fmt.Errorf("judge: bad training config: steps %d, batch %d, lr %g, texture chance %d/%d",
			cfg.Steps, cfg.Batch, cfg.LR, cfg.TextureOf[0], cfg.TextureOf[1])
	}
	net, err := NewNetwork()
	if err != nil {
		return nil, err
	}
	net.Init(shapes.Derive(cfg.Seed, -1))
	net.Params.SetTrainable(func(string) bool { return true })
	prog := nn.NewProgram(net.Params, net.buildTrain, nn.Hooks{})
	defer prog.Close()
	opt := nn.NewAdamW(cfg.LR, 1e-4)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	batches := make(chan batch, 2)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(batches)
		for step := 0; step < cfg.Steps; step++ {
			b := makeBatch(cfg, step)
			select {
			case batches <- b:
			case <-ctx.Done():
				return
			}
		}
	}()
	defer wg.Wait()

	start := time.Now()
	var avg float64
	for step := 1; step <= cfg.Steps; step++ {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("judge: training stopped at step %d: %w", step, err)
		}
		b, ok := <-batches
		if !ok {
			return nil, fmt.Errorf("judge: training stopped at step %d: %w", step, ctx.Err())
		}
		opt.LR = schedule(cfg.LR, step, cfg.Steps)
		res, err := prog.Run(map[string]*tensor.Dense{"image": b.images, "labels": b.labels})
		if err != nil {
			return nil, fmt.Errorf("judge: step %d: %w", step, err)
		}
		if math.IsNaN(res.Loss) || math.IsInf(res.Loss, 0) {
			return nil, fmt.Errorf("judge: step %d: loss is %v", step, res.Loss)
		}
		if err := opt.Step(net.Params.Trainable()); err != nil {
			return nil, fmt.Errorf("judge: step %d: %w", step, err)
		}
		avg = 0.98*avg + 0.02*res.Loss
		if step == 1 {
			avg = res.Loss
		}
		if cfg.Progress != nil {
			cfg.Progress(step, res.Loss)
		}
		if step%100 == 0 || step == cfg.Steps {
			cfg.Log.Info("judge training", "step", step, "steps", cfg.Steps, "loss", fmt.Sprintf("%.4f", avg),
				"lr", fmt.Sprintf("%.2g", opt.LR), "elapsed", time.Since(start).Round(time.Second))
		}
	}
	net.Params.SetTrainable(func(string) bool { return false })
	return New(net), nil
}

// schedule is a 100-step linear warmup, then a cosine decay to 5% of the peak.
func schedule(peak float64, step, total int) float64 {
	const warm = 100
	if step <= warm {
		return peak * float64(step) / warm
	}
	t := float64(step-warm) / float64(max(total-warm, 1))
	return peak * (0.05 + 0.95*0.5*(1+math.Cos(math.Pi*t)))
}

// makeBatch renders, augments and segments scenes until it has cfg.Batch object crops,
// each labelled with the class and texture of the scene object it shows. It depends only
// on the seed and the step, so a run is reproducible.
func makeBatch(cfg TrainConfig, step int) batch {
	x := make([]float32, cfg.Batch*cropPlane)
	y := make([]float32, cfg.Batch*NumOutputs)
	n := 0
	// Scenes average about two objects; stream positions are reserved per step so each
	// step's scenes are fixed whatever happened in other steps.
	for idx := step * cfg.Batch; n < cfg.Batch; idx++ {
		s := TrainingScene(cfg.Seed, idx, cfg.TextureOf[0], cfg.TextureOf[1])
		r := shapes.NewRand(shapes.Derive(cfg.Seed^0xa5a5, idx))
		flip := r.Chance(1, 2)
		img := augment(shapes.MustRender(s, InputSize), r, flip)
		blobs := segment(img)
		own := owners(blobs, InputSize*InputSize)
		for id, bl := range blobs {
			o, ok := matchObject(s, bl, flip)
			if !ok || n == cfg.Batch {
				continue
			}
			cropInto(x[n*cropPlane:(n+1)*cropPlane], img, own, id, bl)
			y[n*NumOutputs+int(o.Class)] = 1
			y[n*NumOutputs+shapes.NumClasses+int(o.Texture)] = 1
			n++
		}
	}
	return batch{
		images: tensor.New(tensor.WithShape(cfg.Batch, 4, CropSize, CropSize), tensor.WithBacking(x)),
		labels: tensor.New(tensor.WithShape(cfg.Batch, NumOutputs), tensor.WithBacking(y)),
	}
}

// matchObject finds the scene object a blob shows: the one whose box holds the blob's
// centroid (boxes never overlap).
func matchObject(s shapes.Scene, bl blob, flipped bool) (shapes.Object, bool) {
	scale := float64(shapes.SceneUnits) / InputSize
	cx, cy := (bl.cx+0.5)*scale, (bl.cy+0.5)*scale
	if flipped {
		cx = float64(shapes.SceneUnits) - cx
	}
	for _, o := range s.Objects {
		if math.Abs(cx-float64(o.X)) <= float64(o.R) && math.Abs(cy-float64(o.Y)) <= float64(o.R) {
			return o, true
		}
	}
	return shapes.Object{}, false
}
