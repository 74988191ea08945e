// Package goldentest holds the helpers tests use to compare our numbers with the reference
// tensors in ../shared/golden: opening a case, reading tensors, and golden/README.md's
// relative error. Every helper skips the test when the golden folder is absent.
package goldentest

import (
	"math"
	"strings"
	"testing"

	"github.com/latexblend/latexblend/internal/golden"
	"github.com/latexblend/latexblend/model/safetensors"
)

// Tolerances from golden/README.md, relative to the reference tensor's largest magnitude.
const (
	TolSchedule  = 1e-6 // scheduler tables, step, add_noise
	TolForward   = 1e-4 // single forwards: text encoders, UNet, VAE, concept K/V
	TolMultiStep = 5e-4 // multi-step pipelines: per-step and final latents, decoded images
	TolGrad      = 1e-3 // gradients, guidance loss/grad, AdamW results
)

// Case opens golden cases/<name>.safetensors (the extension may be given) and closes it
// when the test ends.
func Case(t testing.TB, name string) *safetensors.File {
	t.Helper()
	if !strings.HasSuffix(name, ".safetensors") {
		name += ".safetensors"
	}
	f, err := safetensors.Open(golden.Path(t, "cases", name))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// F32 reads a tensor as float32 with its shape, failing the test when it is absent.
func F32(t testing.TB, f *safetensors.File, name string) ([]float32, []int) {
	t.Helper()
	v, shape, err := f.Float32(name)
	if err != nil {
		t.Fatalf("golden %s: %v", name, err)
	}
	return v, shape
}

// IDRows reads an int64 [B, L] id tensor as B rows of ints.
func IDRows(t testing.TB, f *safetensors.File, name string) [][]int {
	t.Helper()
	v, shape, err := f.Int64(name)
	if err != nil {
		t.Fatalf("golden %s: %v", name, err)
	}
	if len(shape) != 2 {
		t.Fatalf("golden %s: shape %v, want [B, L]", name, shape)
	}
	rows := make([][]int, shape[0])
	for i := range rows {
		for _, id := range v[i*shape[1] : (i+1)*shape[1]] {
			rows[i] = append(rows[i], int(id))
		}
	}
	return rows
}

// RelErr is golden/README.md's comparison: max|got-want| / max|want| (the plain maximum
// difference when want is all zeros; +Inf when the lengths differ).
func RelErr(got, want []float32) float64 {
	if len(got) != len(want) {
		return math.Inf(1)
	}
	var diff, ref float64
	for i := range want {
		diff = math.Max(diff, math.Abs(float64(got[i])-float64(want[i])))
		ref = math.Max(ref, math.Abs(float64(want[i])))
	}
	if ref == 0 {
		return diff
	}
	return diff / ref
}

// CheckClose fails the test when RelErr(got, want) exceeds tol, and logs the error.
func CheckClose(t testing.TB, what string, got, want []float32, tol float64) {
	t.Helper()
	e := RelErr(got, want)
	if e > tol || math.IsNaN(e) {
		t.Errorf("%s: relative error %.3g exceeds %.0e", what, e, tol)
		return
	}
	t.Logf("%s: relative error %.3g", what, e)
}
