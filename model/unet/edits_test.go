package unet

import (
	"context"
	"math"
	"strings"
	"sync"
	"testing"

	"gorgonia.org/tensor"

	"github.com/latexblend/latexblend/nn"
)

const microAttn2 = "down_blocks.1.attentions.0.transformer_blocks.0.attn2"

func run(t *testing.T, m *Model, in Inputs, p Processor) *Output {
	t.Helper()
	out, err := m.Forward(context.Background(), in, Options{Processor: p})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestReplaceKVEqualsContextSwap: K and V are row-wise projections of the context, so
// writing the K/V that context B produces at positions P of row r into a run on
// context A must equal a plain run on A with those context rows taken from B.
func TestReplaceKVEqualsContextSwap(t *testing.T) {
	m := micro(t, tensor.Float32, 1)
	inA := microInputs(tensor.Float32, 2)
	inB := microInputs(tensor.Float32, 3)
	inB.Sample = inA.Sample
	mods := m.CrossAttentionModules()
	if len(mods) != 4 {
		t.Fatalf("micro UNet has %d attn2 modules, want 4: %v", len(mods), mods)
	}
	rows, pos := []int{1}, []int{1, 2}
	readB := run(t, m, inB, &Edits{ReadKV: mods})
	repl := map[string]KVRows{}
	for _, mod := range mods {
		k, v := readB.Extra[mod+".k"], readB.Extra[mod+".v"]
		if k == nil || v == nil {
			t.Fatalf("%s: keys/values not read (extra %v)", mod, keysOf(readB.Extra))
		}
		repl[mod] = KVRows{Rows: rows, Positions: pos, K: pick(k, rows, pos), V: pick(v, rows, pos)}
	}
	edited := run(t, m, inA, &Edits{ReplaceKV: repl})

	swapped := inA
	ctx := inA.Context.Clone().(*tensor.Dense)
	cd, bd := ctx.Data().([]float32), inB.Context.Data().([]float32)
	for _, r := range rows {
		for _, p := range pos {
			o := (r*5 + p) * 12
			copy(cd[o:o+12], bd[o:o+12])
		}
	}
	swapped.Context = ctx
	plain := run(t, m, swapped, nil)
	if d := maxRel(edited.Sample, plain.Sample); d > 1e-5 {
		t.Errorf("K/V row replacement differs from the context swap by %.3g", d)
	}
	unedited := run(t, m, inA, nil)
	if d := maxRel(edited.Sample, unedited.Sample); d < 1e-3 {
		t.Errorf("replacement changed the output by only %.3g", d)
	}
	// Row 0 was not written: its keys must be unchanged.
	readEdited := run(t, m, inA, &Edits{ReplaceKV: repl, ReadKV: []string{microAttn2}})
	readPlain := run(t, m, inA, &Edits{ReadKV: []string{microAttn2}})
	ke, kp := flat(readEdited.Extra[microAttn2+".k"]), flat(readPlain.Extra[microAttn2+".k"])
	for i := 0; i < 5*16; i++ {
		if ke[i] != kp[i] {
			t.Fatalf("row 0 key %d changed: %g → %g", i, kp[i], ke[i])
		}
	}
}

func pick(x *tensor.Dense, rows, pos []int) *tensor.Dense {
	s := x.Shape()
	l, c := s[1], s[2]
	d := flat(x)
	out := make([]float64, 0, len(rows)*len(pos)*c)
	for _, r := range rows {
		for _, p := range pos {
			out = append(out, d[(r*l+p)*c:(r*l+p+1)*c]...)
		}
	}
	return nn.DenseFromFloat64(x.Dtype(), out, len(rows), len(pos), c)
}

func keysOf[V any](m map[string]V) []string { return sortedNames(m) }

// TestReadProbs reads cross- and self-attention probabilities: shapes follow the
// module table, rows sum to one, and reading them leaves the output unchanged.
func TestReadProbs(t *testing.T) {
	m := micro(t, tensor.Float32, 1)
	in := microInputs(tensor.Float32, 2)
	self := strings.TrimSuffix(microAttn2, "2") + "1"
	out := run(t, m, in, &Edits{ReadProbs: []string{microAttn2, self}})
	plain := run(t, m, in, nil)
	if d := maxRel(out.Sample, plain.Sample); d > 1e-6 {
		t.Errorf("reading probabilities changed the output by %.3g", d)
	}
	var info map[string]Module = map[string]Module{}
	for _, mod := range m.AttentionModules(8, 8) {
		info[mod.Path] = mod
	}
	for mod, lk := range map[string]int{microAttn2: 5, self: 16} {
		p := out.Extra[mod+".probs"]
		mi := info[mod]
		want := []int{2, mi.Heads, mi.Height * mi.Width, lk}
		if p == nil || !p.Shape().Eq(tensor.Shape(want)) {
			t.Fatalf("%s probabilities: %v, want shape %v", mod, p, want)
		}
		d := flat(p)
		for r := 0; r < len(d)/lk; r++ {
			var s float64
			for _, v := range d[r*lk : (r+1)*lk] {
				s += v
			}
			if math.Abs(s-1) > 1e-5 {
				t.Fatalf("%s row %d sums to %g", mod, r, s)
			}
		}
	}
}

// TestScoreEdits: copying a score column makes the two probability columns equal;
// the identity copy and a bias constant along the keys change nothing (softmax is
// shift-invariant); a bias that varies along the keys changes the output.
func TestScoreEdits(t *testing.T) {
	m := micro(t, tensor.Float32, 1)
	in := microInputs(tensor.Float32, 2)
	plain := run(t, m, in, nil)
	bind := run(t, m, in, &Edits{ScoreColumns: []ColumnCopy{{From: 3, To: 1}}, ReadProbs: []string{microAttn2}})
	p := flat(bind.Extra[microAttn2+".probs"])
	for r := 0; r < len(p)/5; r++ {
		if p[r*5+1] != p[r*5+3] {
			t.Fatalf("row %d: column 1 = %g, column 3 = %g after copying 3 → 1", r, p[r*5+1], p[r*5+3])
		}
	}
	if d := maxRel(bind.Sample, plain.Sample); d < 1e-4 {
		t.Errorf("the column copy changed the output by only %.3g", d)
	}
	ident := run(t, m, in, &Edits{ScoreColumns: []ColumnCopy{{From: 2, To: 2}}})
	if d := maxRel(ident.Sample, plain.Sample); d > 1e-6 {
		t.Errorf("identity column copy changed the output by %.3g", d)
	}
	mi := m.AttentionModules(8, 8)[1] // attn2 of the first transformer block
	shape := []int{2, mi.Heads, mi.Height * mi.Width, 5}
	rowConst := make([]float64, 2*mi.Heads*mi.Height*mi.Width*5)
	varying := make([]float64, len(rowConst))
	for i := range rowConst {
		rowConst[i] = float64(i/5) * 0.37
		varying[i] = float64(i%5) * 0.8
	}
	same := run(t, m, in, &Edits{ScoreBias: map[string]*tensor.Dense{mi.Path: nn.DenseFromFloat64(tensor.Float32, rowConst, shape...)}})
	if d := maxRel(same.Sample, plain.Sample); d > 1e-5 {
		t.Errorf("a per-row constant score bias changed the output by %.3g", d)
	}
	diff := run(t, m, in, &Edits{ScoreBias: map[string]*tensor.Dense{mi.Path: nn.DenseFromFloat64(tensor.Float32, varying, shape...)}})
	if d := maxRel(diff.Sample, plain.Sample); d < 1e-4 {
		t.Errorf("a key-dependent score bias changed the output by only %.3g", d)
	}
}

// TestConcurrentProcessors runs different processors on one model from several
// goroutines at once and checks each result equals the same call made alone.
func TestConcurrentProcessors(t *testing.T) {
	m := micro(t, tensor.Float32, 1)
	in := microInputs(tensor.Float32, 2)
	procs := []Processor{
		nil,
		&Edits{ScoreColumns: []ColumnCopy{{From: 3, To: 1}}},
		&Edits{ScoreColumns: []ColumnCopy{{From: 4, To: 0}}},
		&Edits{ReplaceKV: map[string]KVRows{microAttn2: {Rows: []int{0}, Positions: []int{2}, K: randDense(randSrc(5), tensor.Float32, 1, 1, 16), V: randDense(randSrc(6), tensor.Float32, 1, 1, 16)}}},
	}
	want := make([]*tensor.Dense, len(procs))
	for i, p := range procs {
		want[i] = run(t, m, in, p).Sample
	}
	var wg sync.WaitGroup
	errs := make(chan string, 4*len(procs))
	for rep := 0; rep < 3; rep++ {
		for i, p := range procs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				out, err := m.Forward(context.Background(), in, Options{Processor: p})
				if err != nil {
					errs <- err.Error()
					return
				}
				if d := maxRel(out.Sample, want[i]); d != 0 {
					errs <- "processor " + p.Key() + " gave a different result when run concurrently"
				}
			}()
		}
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	for i := 1; i < len(procs); i++ {
		if maxRel(want[i], want[0]) == 0 {
			t.Errorf("processor %d had no effect", i)
		}
	}
}

func TestEditsInputErrors(t *testing.T) {
	m := micro(t, tensor.Float32, 1)
	in := microInputs(tensor.Float32, 2)
	kv := func(rows, pos []int, shape ...int) *Edits {
		return &Edits{ReplaceKV: map[string]KVRows{microAttn2: {Rows: rows, Positions: pos, K: randDense(randSrc(1), tensor.Float32, 1, shape...), V: randDense(randSrc(2), tensor.Float32, 1, shape...)}}}
	}
	for name, tc := range map[string]struct {
		p    Processor
		want string
	}{
		"row":      {kv([]int{2}, []int{0}, 1, 16), "row 2 is outside the batch of 2"},
		"position": {kv([]int{0}, []int{5}, 1, 16), "position 5 is outside the 5 tokens"},
		"shape":    {kv([]int{0}, []int{1, 2}, 3, 16), "want [2, C]"},
		"channels": {kv([]int{0}, []int{1}, 1, 8), microAttn2},
		"column":   {&Edits{ScoreColumns: []ColumnCopy{{From: 9, To: 0}}}, "outside the 5 tokens"},
		"self":     {&Edits{ReplaceKV: map[string]KVRows{strings.TrimSuffix(microAttn2, "2") + "1": {Rows: []int{0}, Positions: []int{0}, K: randDense(randSrc(1), tensor.Float32, 1, 1, 16), V: randDense(randSrc(1), tensor.Float32, 1, 1, 16)}}}, "only cross-attention"},
	} {
		_, err := m.Forward(context.Background(), in, Options{Processor: tc.p})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one mentioning %q", name, err, tc.want)
		}
	}
}
