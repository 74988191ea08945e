package blend

import (
	"context"
	"strings"
	"testing"
)

// TestRunBench runs the benchmark once at minimal size and checks its summary line.
func TestRunBench(t *testing.T) {
	res, err := RunBench(context.Background(), BenchConfig{Size: 16, Reps: 1, Concepts: []int{0, 2}})
	if err != nil {
		t.Fatal(err)
	}
	line := res.Line()
	for _, k := range []string{"concepts0_ms=", "concepts2_ms=", "ratio2=", "guidance_ratio=", "rectify_ratio=", "save_ratio="} {
		if !strings.Contains(line, k) {
			t.Errorf("line %q lacks %s", line, k)
		}
	}
	if res.StepMS[0] <= 0 || res.GuidanceMS <= 0 || res.RectifyMS <= 0 || res.SaveMS <= 0 {
		t.Errorf("non-positive times: %s", line)
	}
}
