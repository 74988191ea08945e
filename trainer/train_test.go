package trainer

import (
	"context"
	"math"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/nats-io/nats.go"

	"github.com/latexblend/latexblend/allreduce"
	"github.com/latexblend/latexblend/devcluster"
	"github.com/latexblend/latexblend/internal/goldentest"
	"github.com/latexblend/latexblend/nn"
)

// testRecipe is a fast recipe for the tiny model: 32 px (16×16 latents).
func testRecipe(steps int) Recipe {
	r := DefaultRecipe("dog")
	r.Steps, r.Resolution, r.LearningRate = steps, 32, 1e-3
	return r
}

func testData(t *testing.T) ([]Image, []Image) {
	t.Helper()
	inst, reg := t.TempDir(), t.TempDir()
	writeTestImages(t, inst, 2, 72, 64, 11)
	writeTestImages(t, reg, 2, 64, 64, 12)
	a, err := ReadImageDir(inst)
	if err != nil {
		t.Fatal(err)
	}
	b, err := ReadRegDir(reg)
	if err != nil {
		t.Fatal(err)
	}
	return a, b
}

func newTestTrainer(t *testing.T, r Recipe, red Reducer) *Trainer {
	t.Helper()
	base, err := LoadBase(tinyModelDir(t), true)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := NewTrainer(base, r, red)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	return tr
}

// weights returns a copy of every optimized value.
func weights(t *Trainer) [][]float32 {
	p, _ := t.optimized()
	out := make([][]float32, len(p))
	for i, v := range p {
		out[i] = slices.Clone(v)
	}
	return out
}

func maxRelDiff(a, b [][]float32) float64 {
	var worst float64
	for i := range a {
		worst = max(worst, goldentest.RelErr(a[i], b[i]))
	}
	return worst
}

func TestOverfitFixedBatchLowersLoss(t *testing.T) {
	inst, reg := testData(t)
	r := testRecipe(12)
	r.LearningRate = 1e-2
	tr := newTestTrainer(t, r, nil)
	data, err := NewTrainData(inst, reg, 32)
	if err != nil {
		t.Fatal(err)
	}
	d, err := tr.DrawStep(data, 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	var first, last float64
	for i := range 12 {
		sr, err := tr.TrainStep(context.Background(), d)
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			first = sr.Loss
		}
		last = sr.Loss
	}
	t.Logf("loss %.5f -> %.5f", first, last)
	if !(last < 0.95*first) {
		t.Errorf("12 steps on one batch took the loss from %.5f to %.5f; want a clear decrease", first, last)
	}
}

// recipes are the two training recipes the exactness tests run: the reference's, and
// the token rows alone (Recipe.TokenOnly), which trains other slots.
var recipes = []struct {
	name string
	of   func(steps int) Recipe
}{
	{"full", testRecipe},
	{"token-only", func(steps int) Recipe {
		r := testRecipe(steps)
		r.TokenOnly, r.LearningRate = true, 1e-2
		return r
	}},
}

func TestResumeIsExact(t *testing.T) {
	for _, rc := range recipes {
		t.Run(rc.name, func(t *testing.T) { testResumeIsExact(t, rc.of) })
	}
}

func testResumeIsExact(t *testing.T, testRecipe func(int) Recipe) {
	inst, reg := testData(t)
	ctx := context.Background()
	data, err := NewTrainData(inst, reg, 32)
	if err != nil {
		t.Fatal(err)
	}
	straight := newTestTrainer(t, testRecipe(6), nil)
	var ckpt []byte
	err = straight.Train(ctx, LoopConfig{Data: data, CheckpointEvery: 3, Save: func(_ context.Context, step int, b []byte) error {
		if step != 3 {
			t.Errorf("checkpoint at step %d", step)
		}
		ckpt = b
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	if ckpt == nil {
		t.Fatal("no checkpoint")
	}
	resumed := newTestTrainer(t, testRecipe(6), nil)
	if err := resumed.Restore(ckpt); err != nil {
		t.Fatal(err)
	}
	if resumed.Step() != 3 {
		t.Fatalf("restored step %d", resumed.Step())
	}
	if err := resumed.Train(ctx, LoopConfig{Data: data}); err != nil {
		t.Fatal(err)
	}
	a, b := weights(straight), weights(resumed)
	for i := range a {
		if !slices.Equal(a[i], b[i]) {
			t.Fatalf("slot %s differs after 3 + resume + 3 steps vs 6 straight (rel %.3g)", straight.slotNames()[i], goldentest.RelErr(b[i], a[i]))
		}
	}
	for i := range straight.tr.tables {
		if !slices.Equal(straight.tr.tables[i].Value.Data().([]float32), resumed.tr.tables[i].Value.Data().([]float32)) {
			t.Errorf("token table %d differs", i)
		}
	}
	// A checkpoint of another recipe is refused, naming the difference.
	other := testRecipe(6)
	other.ClassNoun = "cat"
	if err := newTestTrainer(t, other, nil).Restore(ckpt); err == nil {
		t.Error("a checkpoint of class dog was restored into a cat run")
	}
	other = testRecipe(6)
	other.TokenOnly = !other.TokenOnly
	if err := newTestTrainer(t, other, nil).Restore(ckpt); err == nil || !strings.Contains(err.Error(), "token_only") {
		t.Errorf("a checkpoint restored into a run with token_only %v: %v, want an error naming token_only", other.TokenOnly, err)
	}
}

// concatSteps joins two ranks' batch-1 steps into one batch-2 step with the same
// samples (rows [inst a, inst b, prior a, prior b]).
func concatSteps(a, b *StepData) *StepData {
	half := len(a.Latents) / 2
	return &StepData{
		Latents:   slices.Concat(a.Latents[:half], b.Latents[:half], a.Latents[half:], b.Latents[half:]),
		Noise:     slices.Concat(a.Noise[:half], b.Noise[:half], a.Noise[half:], b.Noise[half:]),
		Timesteps: []float64{a.Timesteps[0], b.Timesteps[0], a.Timesteps[1], b.Timesteps[1]},
		Masks:     slices.Concat(a.Masks, b.Masks),
		Prompts:   slices.Concat(a.Prompts, b.Prompts),
		Templates: slices.Concat(a.Templates, b.Templates),
		Height:    a.Height, Width: a.Width,
	}
}

func TestDataParallelMatchesBigBatch(t *testing.T) {
	for _, rc := range recipes {
		t.Run(rc.name, func(t *testing.T) { testDataParallelMatchesBigBatch(t, rc.of) })
	}
}

func testDataParallelMatchesBigBatch(t *testing.T, testRecipe func(int) Recipe) {
	const steps = 3
	inst, reg := testData(t)
	data, err := NewTrainData(inst, reg, 32)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	dc, err := devcluster.Start(ctx, devcluster.Config{NoEtcd: true})
	if err != nil {
		t.Fatal(err)
	}
	defer dc.Close()
	var ranks [2]*Trainer
	var rings [2]*allreduce.Ring
	var wg sync.WaitGroup
	for r := range 2 {
		nc, err := nats.Connect(dc.NATSURL())
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		wg.Add(1)
		go func() {
			defer wg.Done()
			ring, err := allreduce.Join(ctx, nc, allreduce.Config{Job: "ddptest", Rank: r, Size: 2})
			if err != nil {
				t.Error(err)
				return
			}
			rings[r] = ring
		}()
	}
	wg.Wait()
	if rings[0] == nil || rings[1] == nil {
		t.FailNow()
	}
	defer rings[0].Close()
	defer rings[1].Close()
	gang := newGangReplay(2)
	var recs [2]*replayReducer
	for r := range 2 {
		recs[r] = &replayReducer{inner: rings[r], gang: gang}
		ranks[r] = newTestTrainer(t, testRecipe(steps), recs[r])
		recs[r].name = ranks[r].allReduceBufferName
	}
	big := testRecipe(steps)
	big.Batch = 2
	single := newTestTrainer(t, big, nil)
	for s := 1; s <= steps; s++ {
		var ds [2]*StepData
		for r := range 2 {
			if ds[r], err = ranks[r].DrawStep(data, r, s); err != nil {
				t.Fatal(err)
			}
		}
		for r := range 2 {
			tr, d := ranks[r], ds[r]
			recs[r].replay = func() (float64, error) {
				sr, _, err := tr.forward(d)
				if err != nil {
					return 0, err
				}
				return sr.Loss, nil
			}
		}
		var losses [2]float64
		errs := make([]error, 2)
		for r := range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				sr, err := ranks[r].TrainStep(ctx, ds[r])
				errs[r] = err
				if err == nil {
					losses[r] = sr.Loss
				}
			}()
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		sr, err := single.TrainStep(ctx, concatSteps(ds[0], ds[1]))
		if err != nil {
			t.Fatal(err)
		}
		for r := range 2 {
			// Bit-for-bit equality is expected (same graph, weights and data); a rounding-
			// sized difference would only mean scheduling-dependent summation order, so it
			// is reported but fails the test only when it is large enough to matter.
			switch rec := recs[r]; {
			case rec.mismatchRel > 1e-4:
				t.Errorf("step %d: rank %d's gradient, computed while the other rank was running, differs from a serial recomputation on the same weights and data: %s", s, r, rec.mismatch)
			case rec.mismatch != "":
				t.Logf("step %d: rank %d's gradient differs from a serial recomputation by rounding only: %s", s, r, rec.mismatch)
			}
		}
		trained := len(ranks[0].tr.gradBuffers())
		if tr := ranks[0].tr; ranks[0].recipe.TokenOnly && trained != len(tr.tables)*len(tr.rows) {
			t.Errorf("step %d: a token-only step has %d gradient buffers, want the %d token rows alone", s, trained, len(tr.tables)*len(tr.rows))
		}
		if len(recs[0].local) != trained+1 {
			t.Errorf("step %d: the ranks averaged %d buffers, want the %d trained gradients and the losses", s, len(recs[0].local), trained)
		}
		if m := checkMean([2][][]float32{recs[0].local, recs[1].local}, [2][][]float32{recs[0].reduced, recs[1].reduced}, ranks[0].allReduceBufferName); m != "" {
			t.Errorf("step %d: the all-reduce did not return exactly (rank 0 + rank 1)/2: %s", s, m)
		}
		rel, buf := relL2(ranks[0].tr.gradBuffers(), single.tr.gradBuffers())
		if n := l2(single.tr.gradBuffers()); !(n > 0) {
			t.Fatalf("step %d: the batch-2 gradient's norm is %g", s, n)
		}
		t.Logf("step %d: ‖grad(2 ranks) − grad(batch 2)‖/‖grad(batch 2)‖ = %.3g (clipped gradients; most in %s)", s, rel, ranks[0].allReduceBufferName(buf))
		// The two graphs round differently (other GEMM shapes, OpenBLAS threads only for
		// batch 2): about 1e-6 here. A sample, a chunk or a rank summed wrongly is O(0.1).
		if rel > 1e-4 {
			t.Errorf("step %d: the 2-rank gradient differs from the batch-2 gradient by %.3g (relative L2), most in %s", s, rel, ranks[0].allReduceBufferName(buf))
		}
		if losses[0] != losses[1] {
			t.Errorf("step %d: ranks report losses %v and %v", s, losses[0], losses[1])
		}
		if d := goldentest.RelErr([]float32{float32(losses[0])}, []float32{float32(sr.Loss)}); d > 1e-5 {
			t.Errorf("step %d: 2-rank loss %v, batch-2 loss %v", s, losses[0], sr.Loss)
		}
	}
	w0, w1, ws := weights(ranks[0]), weights(ranks[1]), weights(single)
	for i := range w0 {
		if !slices.Equal(w0[i], w1[i]) {
			t.Errorf("ranks' %s differ after %d steps", ranks[0].slotNames()[i], steps)
		}
	}
	// AdamW's first steps move every weight by about lr whatever the gradient's size,
	// so compare the updates, not the weights.
	base := newTestTrainer(t, testRecipe(steps), nil)
	w00 := weights(base)
	var worst float64
	for i := range w0 {
		for j := range w0[i] {
			d0, ds := w0[i][j]-w00[i][j], ws[i][j]-w00[i][j]
			worst = max(worst, float64(abs32(d0-ds)))
		}
	}
	lr := testRecipe(steps).LearningRate
	t.Logf("max |update(2 ranks) - update(batch 2)| = %.3g (lr %g, %d steps)", worst, lr, steps)
	if worst > lr*steps*0.02 {
		t.Errorf("2 ranks × batch 1 and 1 rank × batch 2 updated the weights differently by %.3g", worst)
	}
}

func abs32(x float32) float32 {
	if x < 0 {
		return -x
	}
	return x
}

// TestTokenOnly: with Recipe.TokenOnly the projections stay bit for bit the base
// model's while the token rows move; the first step's loss is the full recipe's (same
// graph), its clipping norm is the token rows' alone, and the delta holds the rows
// alone.
func TestTokenOnly(t *testing.T) {
	inst, reg := testData(t)
	data, err := NewTrainData(inst, reg, 32)
	if err != nil {
		t.Fatal(err)
	}
	full := newTestTrainer(t, testRecipe(3), nil)
	r := testRecipe(3)
	r.TokenOnly, r.LearningRate = true, 1e-2
	tok := newTestTrainer(t, r, nil)
	kv0 := map[string][]float32{}
	for _, p := range tok.tr.kv {
		kv0[p.Name] = slices.Clone(p.Value.Data().([]float32))
	}
	rows0 := weights(tok)
	if len(rows0) != 2 {
		t.Fatalf("token-only optimizes %d slices, want the 2 modifier rows", len(rows0))
	}
	step := func(tr *Trainer, i int) *StepResult {
		d, err := tr.DrawStep(data, i, 1)
		if err != nil {
			t.Fatal(err)
		}
		sr, err := tr.TrainStep(context.Background(), d)
		if err != nil {
			t.Fatal(err)
		}
		return sr
	}
	// The backward pass gives the token rows the full recipe's gradient without
	// computing any projection's.
	d0, err := tok.DrawStep(data, 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, tr := range []*Trainer{tok, full} {
		if _, _, err := tr.forward(d0); err != nil {
			t.Fatal(err)
		}
	}
	tokGrads, fullGrads := tok.tr.gradBuffers(), full.tr.gradBuffers()
	if len(tokGrads) != 2 {
		t.Fatalf("token-only step has %d gradient buffers, want the 2 modifier rows", len(tokGrads))
	}
	if d := maxRelDiff(tokGrads, fullGrads[len(fullGrads)-2:]); d > 1e-5 {
		t.Errorf("token rows' gradient differs from the full recipe's by %.3g relative", d)
	}
	for _, p := range slices.Concat(tok.tr.kv, []*nn.Param{tok.tr.projection}) {
		if p.Trainable() || p.Grad != nil {
			t.Errorf("%s gets a gradient in token-only training", p.Name)
		}
	}
	for i := range 3 {
		sr, fr := step(tok, i), step(full, i)
		if i == 0 {
			if sr.Loss != fr.Loss {
				t.Errorf("first step: token-only loss %g, full recipe %g; the graph must be the same", sr.Loss, fr.Loss)
			}
			if !(sr.GradNorm > 0 && sr.GradNorm < fr.GradNorm) {
				t.Errorf("first step: token-only grad norm %g, full %g; want the token rows' norm alone, above 0", sr.GradNorm, fr.GradNorm)
			}
		}
	}
	for _, p := range tok.tr.kv {
		if !slices.Equal(p.Value.Data().([]float32), kv0[p.Name]) {
			t.Errorf("%s changed in token-only training", p.Name)
		}
	}
	if d := maxRelDiff(weights(tok), rows0); d < 1e-4 {
		t.Errorf("the token rows moved by only %.3g relative", d)
	}
	if delta := tok.Delta(); len(delta.Weights) != 0 || len(delta.Rows[0]) == 0 || len(delta.Rows[1]) == 0 {
		t.Errorf("token-only delta holds %d weights and rows of %d and %d values; want the two rows alone", len(delta.Weights), len(delta.Rows[0]), len(delta.Rows[1]))
	}
}

// l2 is the L2 norm of all buffers together.
func l2(bufs [][]float32) float64 {
	var sum float64
	for _, b := range bufs {
		for _, v := range b {
			sum += float64(v) * float64(v)
		}
	}
	return math.Sqrt(sum)
}
