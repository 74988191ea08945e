package unet

import (
	"fmt"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/latexblend/latexblend/nn"
)

// TokenCopy moves one token row: output row DstRow, position DstPos takes input row
// SrcRow, position SrcPos.
type TokenCopy struct{ DstRow, DstPos, SrcRow, SrcPos int }

// SelectionMatrix builds the [rows·tokens, srcRows·srcTokens] matrix TokenMix applies:
// one 1 per copied token, zero rows for tokens nothing is copied to.
func SelectionMatrix(dt tensor.Dtype, rows, tokens, srcRows, srcTokens int, copies []TokenCopy) (*tensor.Dense, error) {
	w := make([]float64, rows*tokens*srcRows*srcTokens)
	n := srcRows * srcTokens
	for _, c := range copies {
		if c.DstRow < 0 || c.DstRow >= rows || c.DstPos < 0 || c.DstPos >= tokens || c.SrcRow < 0 || c.SrcRow >= srcRows || c.SrcPos < 0 || c.SrcPos >= srcTokens {
			return nil, fmt.Errorf("unet: token copy %+v is outside [%d rows, %d tokens] ← [%d rows, %d tokens]", c, rows, tokens, srcRows, srcTokens)
		}
		w[(c.DstRow*tokens+c.DstPos)*n+c.SrcRow*srcTokens+c.SrcPos] = 1
	}
	return nn.DenseFromFloat64(dt, w, rows*tokens, n), nil
}

// TokenMix returns out [rows, L, C] whose token rows are combinations of the token
// rows of x [Bc, Lc, C] given by sel [rows·L, Bc·Lc] (see SelectionMatrix). KV hooks
// use it to splice keys and values across prompts, e.g. LatexBlend's base flow, where
// the instance row's keys are the frozen projection of the replace prompt around the
// trainable projection of the concept tokens; gradients flow back into x.
func TokenMix(b *nn.Builder, x, sel *G.Node, rows int) (*G.Node, error) {
	xs, ss := x.Shape(), sel.Shape()
	if len(xs) != 3 || len(ss) != 2 || ss[1] != xs[0]*xs[1] || rows <= 0 || ss[0]%rows != 0 {
		return nil, fmt.Errorf("unet: TokenMix of %v with selection %v into %d rows: need x [Bc, L, C] and [rows·L', Bc·L]", xs, ss, rows)
	}
	x2, err := b.Reshape(x, xs[0]*xs[1], xs[2])
	if err != nil {
		return nil, err
	}
	y, err := b.MatMul(sel, x2)
	if err != nil {
		return nil, err
	}
	return b.Reshape(y, rows, ss[0]/rows, xs[2])
}
