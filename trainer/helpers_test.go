package trainer

import (
	"testing"

	"github.com/latexblend/latexblend/internal/golden"
	"github.com/latexblend/latexblend/internal/goldentest"
	"github.com/latexblend/latexblend/internal/leakcheck"
	"github.com/latexblend/latexblend/model/safetensors"
)

func TestMain(m *testing.M) { leakcheck.VerifyTestMain(m) }

func goldenF32(t *testing.T, f *safetensors.File, name string) []float32 {
	t.Helper()
	v, _ := goldentest.F32(t, f, name)
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

// tinyBase loads the golden tiny model for inference; it is closed when the test ends.
func tinyBase(t *testing.T) *Base {
	t.Helper()
	base, err := LoadBase(tinyModelDir(t), false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { base.Close() })
	return base
}
