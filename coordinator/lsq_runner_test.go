package coordinator_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/latexblend/latexblend/allreduce"
	"github.com/latexblend/latexblend/model/safetensors"
	"github.com/latexblend/latexblend/trainer"
)

// lsqRunner is a small but real trainer.JobRunner for the cluster tests. It is NOT the
// Custom Diffusion trainer: it fits a linear least-squares model data-parallel, each rank
// computing the gradient of its shard of every batch and the ring averaging them, so the
// tests exercise the real distributed path (ring per generation, checkpoints to the
// object store, resume after re-formation, rank 0 publishing a valid entry) without the
// diffusion model.
type lsqRunner struct {
	dim       int
	samples   int
	stepDelay time.Duration
	// onStep, when set, is called after every completed step (all ranks).
	onStep func(job string, gen int64, rank, step int)

	mu   sync.Mutex
	runs map[runID]*runRecord
}

type runID struct {
	job  string
	gen  int64
	rank int
}

// runRecord is what one rank did in one generation.
type runRecord struct {
	trainer   string
	size      int
	resumed   int // checkpoint step it started from
	lastStep  int
	firstLoss float32
	lastLoss  float32
	finished  bool
	err       error
}

func newLSQRunner(stepDelay time.Duration) *lsqRunner {
	return &lsqRunner{dim: 8, samples: 64, stepDelay: stepDelay, runs: map[runID]*runRecord{}}
}

func (r *lsqRunner) record(id runID, f func(*runRecord)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	rec := r.runs[id]
	if rec == nil {
		rec = &runRecord{}
		r.runs[id] = rec
	}
	f(rec)
}

// snapshot copies the records of one job.
func (r *lsqRunner) snapshot(job string) map[runID]runRecord {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[runID]runRecord{}
	for id, rec := range r.runs {
		if id.job == job {
			out[id] = *rec
		}
	}
	return out
}

func (r *lsqRunner) Run(ctx context.Context, job *trainer.JobContext) (*trainer.Result, error) {
	id := runID{job.JobID, job.Generation, job.Rank}
	spec := job.Spec
	// Every rank reads its share of the uploaded images through the node's dataset
	// accessor (digest-checked); the images only salt the synthetic problem.
	refs := job.Data.Instance()
	for i := job.Rank; i < len(refs); i += job.Size {
		if _, err := job.Data.Fetch(ctx, refs[i]); err != nil {
			return nil, err
		}
	}
	rng := rand.New(rand.NewPCG(spec.Seed, uint64(len(refs))))
	wStar := make([]float64, r.dim)
	for k := range wStar {
		wStar[k] = rng.NormFloat64()
	}
	xs := make([][]float64, r.samples)
	ys := make([]float64, r.samples)
	for i := range xs {
		xs[i] = make([]float64, r.dim)
		for k := range xs[i] {
			xs[i][k] = rng.NormFloat64()
			ys[i] += xs[i][k] * wStar[k]
		}
	}
	w := make([]float32, r.dim)
	start, data, err := job.Checkpoints.Load(ctx)
	if err != nil {
		return nil, err
	}
	if data != nil {
		w = decodeWeights(data)
		if len(w) != r.dim {
			return nil, fmt.Errorf("checkpoint holds %d weights, want %d", len(w), r.dim)
		}
	}
	r.record(id, func(rec *runRecord) {
		rec.trainer, rec.size, rec.resumed, rec.lastStep = job.TrainerID, job.Size, start, start
	})
	steps, every, batch := int(spec.Steps), int(spec.CheckpointEvery), int(spec.BatchSize)
	lr := spec.LearningRate
	for step := start + 1; step <= steps; step++ {
		grad := make([]float32, r.dim+1) // gradient, then the loss
		for b := range batch {
			i := ((step-1)*job.Size*batch + job.Rank*batch + b) % r.samples
			pred := 0.0
			for k, x := range xs[i] {
				pred += x * float64(w[k])
			}
			e := pred - ys[i]
			for k, x := range xs[i] {
				grad[k] += float32(2 * e * x / float64(batch))
			}
			grad[r.dim] += float32(e * e / float64(batch))
		}
		if err := job.Ring.AllReduce(ctx, allreduce.Mean, grad); err != nil {
			r.record(id, func(rec *runRecord) { rec.err = err })
			return nil, fmt.Errorf("step %d: %w", step, err)
		}
		for k := range w {
			w[k] -= lr * grad[k]
		}
		loss := grad[r.dim]
		job.Progress.Report(step, loss)
		r.record(id, func(rec *runRecord) {
			if step == start+1 {
				rec.firstLoss = loss
			}
			rec.lastStep, rec.lastLoss = step, loss
		})
		if step%every == 0 || step == steps {
			if err := job.Checkpoints.Save(ctx, step, encodeWeights(w)); err != nil {
				return nil, err
			}
		}
		if r.onStep != nil {
			r.onStep(job.JobID, job.Generation, job.Rank, step)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(r.stepDelay):
		}
	}
	r.record(id, func(rec *runRecord) { rec.finished = true })
	if job.Rank != 0 {
		return nil, nil
	}
	return r.result(job, w)
}

// result writes the final delta and a latexblend.entry/v1 entry built from the weights.
func (r *lsqRunner) result(job *trainer.JobContext, w []float32) (*trainer.Result, error) {
	dir, err := os.MkdirTemp("", "lsq-result-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	spec := job.Spec
	layer := "mid_block.attentions.0.transformer_blocks.0.attn2"
	rows := append(append([]float32(nil), w...), w...)
	entry := filepath.Join(dir, "entry.safetensors")
	err = safetensors.WriteFile(entry, []safetensors.Tensor{
		{Name: layer + ".k", Shape: []int{2, r.dim}, F32: rows},
		{Name: layer + ".v", Shape: []int{2, r.dim}, F32: rows},
	}, map[string]string{
		trainer.EntryKeyFormat: trainer.EntryFormat, trainer.EntryKeyClassNoun: spec.ClassNoun,
		trainer.EntryKeyModifier: spec.ModifierToken, trainer.EntryKeyNTok: "2",
		trainer.EntryKeyBaseModelID: job.BaseModelID, trainer.EntryKeyRecipe: `{"runner":"lsq-test"}`,
		trainer.EntryKeyCreated: time.Now().UTC().Format(time.RFC3339),
	})
	if err != nil {
		return nil, err
	}
	delta := filepath.Join(dir, "delta.safetensors")
	err = safetensors.WriteFile(delta, []safetensors.Tensor{{Name: layer + ".to_k.weight", Shape: []int{1, r.dim}, F32: w}},
		map[string]string{"format": "latexblend.delta/v1", "modifier_token": spec.ModifierToken,
			"class_noun": spec.ClassNoun, "step": strconv.Itoa(int(spec.Steps))})
	if err != nil {
		return nil, err
	}
	res := &trainer.Result{}
	if res.Entry, err = os.ReadFile(entry); err != nil {
		return nil, err
	}
	if res.Delta, err = os.ReadFile(delta); err != nil {
		return nil, err
	}
	return res, nil
}

func encodeWeights(w []float32) []byte {
	b := make([]byte, 4*len(w))
	for i, v := range w {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(v))
	}
	return b
}

func decodeWeights(b []byte) []float32 {
	w := make([]float32, len(b)/4)
	for i := range w {
		w[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return w
}
