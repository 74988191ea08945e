package clip

import (
	"fmt"
	"math"
	"slices"
	"testing"

	"gorgonia.org/tensor"

	"github.com/latexblend/latexblend/internal/golden"
	"github.com/latexblend/latexblend/internal/goldentest"
)

// checkClose compares a tensor with a golden tensor (shape and values).
func checkClose(t *testing.T, what string, got *tensor.Dense, want []float32, wantShape []int) {
	t.Helper()
	if got == nil {
		t.Errorf("%s: no tensor", what)
		return
	}
	if !slices.Equal([]int(got.Shape()), wantShape) {
		t.Errorf("%s: shape %v, reference %v", what, got.Shape(), wantShape)
		return
	}
	if e := goldentest.RelErr(got.Data().([]float32), want); e > goldentest.TolForward || math.IsNaN(e) {
		t.Errorf("%s: max|go-ref| = %.3g of max|ref|, tolerance %g", what, e, goldentest.TolForward)
	} else {
		t.Logf("%s: max|go-ref|/max|ref| = %.2g", what, e)
	}
}

func loadGoldenEncoder(t *testing.T, component string) *TextEncoder {
	t.Helper()
	e, err := LoadTextEncoder(golden.Path(t, "tiny-sdxl", component), component)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

// rowOf returns row i of a [B, …] tensor as a [1, …] tensor.
func rowOf(t *testing.T, x *tensor.Dense, i int) *tensor.Dense {
	t.Helper()
	s := x.Shape()
	n := s.TotalSize() / s[0]
	shape := append([]int{1}, s[1:]...)
	return tensor.New(tensor.WithShape(shape...), tensor.WithBacking(slices.Clone(x.Data().([]float32)[i*n:(i+1)*n])))
}

// TestGoldenTextEncoders checks both tiny-sdxl encoders on prompt 0 of golden
// cases/text ("a photo of a dog"): every hidden state (embeddings and the output of each
// of the 5 layers), the final-normed state, encoder 1's pooler output and encoder 2's
// text_embeds.
func TestGoldenTextEncoders(t *testing.T) {
	ref := goldentest.Case(t, "text.safetensors")
	for _, tc := range []struct {
		enc, component, ids, pooled string
	}{
		{"enc1", "text_encoder", "input_ids_1", "enc1_pooler_output"},
		{"enc2", "text_encoder_2", "input_ids_2", "enc2_text_embeds"},
	} {
		t.Run(tc.component, func(t *testing.T) {
			e := loadGoldenEncoder(t, tc.component)
			ids := goldentest.IDRows(t, ref, tc.ids)[:1]
			out, err := e.Encode(ids)
			if err != nil {
				t.Fatal(err)
			}
			if len(out.HiddenStates) != 6 {
				t.Fatalf("%d hidden states, want 6 (embeddings + 5 layers)", len(out.HiddenStates))
			}
			for i, h := range out.HiddenStates {
				name := fmt.Sprintf("%s_hidden_states_%d", tc.enc, i)
				want, shape := goldentest.F32(t, ref, name)
				checkClose(t, name, h, want, shape)
			}
			want, shape := goldentest.F32(t, ref, tc.enc+"_last_hidden_state")
			checkClose(t, tc.enc+"_last_hidden_state", out.LastHiddenState, want, shape)
			pooled := out.Pooled
			if e.Model.HasProjection() {
				pooled = out.TextEmbeds
			}
			want, shape = goldentest.F32(t, ref, tc.pooled)
			checkClose(t, tc.pooled, pooled, want, shape)
			if out.PooledPositions[0] != 6 {
				t.Errorf("pooled at position %d, want 6 (the EOS of \"a photo of a dog\")", out.PooledPositions[0])
			}
		})
	}
}
