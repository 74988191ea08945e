package trainer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"

	"github.com/nats-io/nats.go"
	"github.com/oklog/ulid/v2"

	"github.com/latexblend/latexblend/allreduce"
	"github.com/latexblend/latexblend/devcluster"
)

type allreduceOp = allreduce.Op

// LocalConfig is a data-parallel run of Ranks ranks in this process, joined by an
// all-reduce ring over NATS (an embedded nats-server when NATSURL is empty).
type LocalConfig struct {
	ModelDir string
	Recipe   Recipe
	// Instances and Reg are the decoded images (Reg empty: no prior preservation; the
	// recipe's Prior must say so).
	Instances, Reg []Image
	Ranks          int
	NATSURL        string
	// CheckpointEvery and CheckpointPath: rank 0 writes its checkpoint there (atomically,
	// replacing the previous one).
	CheckpointEvery int
	CheckpointPath  string
	// Resume is a checkpoint to continue from (nil: start fresh).
	Resume []byte
	// OnStep receives rank 0's step results.
	OnStep func(StepResult)
	// PreviewEvery renders a preview image (fixed prompt and seed) into PreviewDir
	// every this many steps on rank 0 (0: none); OnPreview gets each file's path.
	PreviewEvery int
	PreviewDir   string
	OnPreview    func(path string)
	// WrapReducer wraps each rank's ring (for measurements); nil leaves it as it is.
	WrapReducer func(rank int, r Reducer) Reducer
	Log         *slog.Logger
}

// LocalResult is a finished local run.
type LocalResult struct {
	Delta *Delta
	// Trainers are kept open when the caller asks (tests compare ranks); otherwise nil.
	Trainers []*Trainer
}

// RunLocal trains with cfg.Ranks ranks, each with its own copy of the base model, and
// returns rank 0's delta. keep leaves the trainers open in the result (the caller closes
// them); otherwise they are closed.
func RunLocal(ctx context.Context, cfg LocalConfig, keep bool) (*LocalResult, error) {
	if cfg.Ranks < 1 {
		return nil, fmt.Errorf("ranks %d must be at least 1", cfg.Ranks)
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	cfg.Recipe.Ranks = cfg.Ranks
	data, err := NewTrainData(cfg.Instances, cfg.Reg, cfg.Recipe.Resolution)
	if err != nil {
		return nil, err
	}
	var conns []*nats.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	if cfg.Ranks > 1 && cfg.NATSURL == "" {
		dc, err := devcluster.Start(ctx, devcluster.Config{NoEtcd: true, Logger: cfg.Log})
		if err != nil {
			return nil, fmt.Errorf("embedded NATS: %w", err)
		}
		defer dc.Close()
		cfg.NATSURL = dc.NATSURL()
	}
	trainers := make([]*Trainer, cfg.Ranks)
	defer func() {
		if !keep {
			for _, t := range trainers {
				if t != nil {
					t.Close()
				}
			}
		}
	}()
	job := "local-" + ulid.Make().String()
	errs := make([]error, cfg.Ranks)
	var wg sync.WaitGroup
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var mu sync.Mutex
	for rank := range cfg.Ranks {
		var nc *nats.Conn
		if cfg.Ranks > 1 {
			if nc, err = nats.Connect(cfg.NATSURL, nats.Name(fmt.Sprintf("%s-rank%d", job, rank))); err != nil {
				return nil, fmt.Errorf("NATS %s: %w", cfg.NATSURL, err)
			}
			conns = append(conns, nc)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			t, err := runRank(rctx, cfg, data, job, rank, nc)
			mu.Lock()
			trainers[rank] = t
			mu.Unlock()
			if err != nil {
				errs[rank] = fmt.Errorf("rank %d: %w", rank, err)
				cancel() // the other ranks would wait for this one
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	res := &LocalResult{Delta: trainers[0].Delta()}
	if keep {
		res.Trainers = trainers
	}
	return res, nil
}

// runRank is one rank of RunLocal: load, join the ring, restore, train.
func runRank(ctx context.Context, cfg LocalConfig, data *TrainData, job string, rank int, nc *nats.Conn) (*Trainer, error) {
	base, err := LoadBase(cfg.ModelDir, true)
	if err != nil {
		return nil, err
	}
	var red Reducer
	if nc != nil {
		ring, err := allreduce.Join(ctx, nc, allreduce.Config{Job: job, Rank: rank, Size: cfg.Ranks, Logger: cfg.Log})
		if err != nil {
			base.Close()
			return nil, fmt.Errorf("joining the ring: %w", err)
		}
		defer ring.Close()
		red = ring
	}
	if cfg.WrapReducer != nil {
		red = cfg.WrapReducer(rank, red)
	}
	t, err := NewTrainer(base, cfg.Recipe, red)
	if err != nil {
		base.Close()
		return nil, err
	}
	if cfg.Resume != nil {
		if err := t.Restore(cfg.Resume); err != nil {
			return t, err
		}
	}
	lc := LoopConfig{Data: data, Rank: rank}
	if rank == 0 {
		lc.OnStep = cfg.OnStep
		if cfg.PreviewEvery > 0 {
			pv, err := t.NewPreviewer(cfg.PreviewDir)
			if err != nil {
				return t, err
			}
			lc.OnStep = func(sr StepResult) {
				if cfg.OnStep != nil {
					cfg.OnStep(sr)
				}
				if sr.Step%cfg.PreviewEvery == 0 || sr.Step == t.recipe.Steps {
					path, err := pv.Render(ctx)
					if err != nil {
						cfg.Log.Warn("preview failed", "step", sr.Step, "err", err)
						return
					}
					if cfg.OnPreview != nil {
						cfg.OnPreview(path)
					}
				}
			}
		}
		if cfg.CheckpointPath != "" {
			lc.CheckpointEvery = cfg.CheckpointEvery
			lc.Save = func(_ context.Context, step int, b []byte) error {
				return writeFileAtomic(cfg.CheckpointPath, b)
			}
		}
	}
	return t, t.Train(ctx, lc)
}

// writeFileAtomic replaces path with data through a temporary file and a rename.
func writeFileAtomic(path string, data []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
