package trainer

import (
	"math"
	"testing"

	"go.uber.org/goleak"

	"github.com/latexblend/latexblend/internal/golden"
	"github.com/latexblend/latexblend/model/safetensors"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// goldenCase opens cases/<name>.safetensors (skipping without the golden folder).
func goldenCase(t *testing.T, name string) *safetensors.File {
	t.Helper()
	f, err := safetensors.Open(golden.Path(t, "cases", name+".safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func goldenF32(t *testing.T, f *safetensors.File, name string) []float32 {
	t.Helper()
	v, _, err := f.Float32(name)
	if err != nil {
		t.Fatalf("golden tensor %s: %v", name, err)
	}
	return v
}

func goldenI64(t *testing.T, f *safetensors.File, name string) []int64 {
	t.Helper()
	v, _, err := f.Int64(name)
	if err != nil {
		t.Fatalf("golden tensor %s: %v", name, err)
	}
	return v
}

// tinyModelDir is the golden tiny SDXL folder.
func tinyModelDir(t *testing.T) string { return golden.Path(t, "tiny-sdxl") }

// relErr is max|got-want| / max|want|.
func relErr(got, want []float32) float64 {
	var d, m float64
	for i := range want {
		d = math.Max(d, math.Abs(float64(got[i])-float64(want[i])))
		m = math.Max(m, math.Abs(float64(want[i])))
	}
	if m == 0 {
		return d
	}
	return d / m
}

func checkClose(t *testing.T, what string, got, want []float32, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: %d values, want %d", what, len(got), len(want))
		return
	}
	if e := relErr(got, want); e > tol || math.IsNaN(e) {
		t.Errorf("%s: relative error %.3g > %.g", what, e, tol)
	}
}
