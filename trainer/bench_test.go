package trainer

import (
	"context"
	"strings"
	"testing"
)

// TestRunBenchAllReduceSize: the training benchmark runs a two-rank gang for either
// recipe, and a token-only step averages the two token rows and the losses alone.
func TestRunBenchAllReduceSize(t *testing.T) {
	floats := map[bool]int{}
	for _, tokenOnly := range []bool{false, true} {
		res, err := RunBench(context.Background(), BenchConfig{ModelDir: tinyModelDir(t), Steps: 2, Ranks: []int{2}, Resolution: 32, TokenOnly: tokenOnly})
		if err != nil {
			t.Fatal(err)
		}
		run := res.Runs[0]
		if !(run.StepsPerSec > 0) || run.Ranks != 2 {
			t.Fatalf("token_only %v: %+v", tokenOnly, run)
		}
		line := res.Line()
		for _, key := range []string{"steps_per_sec_2=", "allreduce_share_2=", "allreduce_floats_2=", "token_only="} {
			if !strings.Contains(line, key) {
				t.Errorf("summary line %q lacks %s", line, key)
			}
		}
		floats[tokenOnly] = run.AllReduceFloats
	}
	base := newTestTrainer(t, testRecipe(1), nil)
	rows := 0
	for _, tab := range base.tr.tables {
		rows += tab.Value.Shape()[1] * len(base.tr.rows)
	}
	if floats[true] != rows+3 {
		t.Errorf("token-only all-reduce averages %d values, want the %d row values and 3 losses", floats[true], rows)
	}
	if floats[false] <= 100*floats[true] {
		t.Errorf("full recipe all-reduce averages %d values, token-only %d", floats[false], floats[true])
	}
}
