package nn

import (
	"fmt"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// attnDims describes q [B, Lq, H·dh], k [B, Lk, H·dh], v [B, Lk, H·dv].
type attnDims struct{ b, lq, lk, h, dh, dv int }

func (d attnDims) qOff(bi, hi int) int { return bi*d.lq*d.h*d.dh + hi*d.dh }
func (d attnDims) kOff(bi, hi int) int { return bi*d.lk*d.h*d.dh + hi*d.dh }
func (d attnDims) vOff(bi, hi int) int { return bi*d.lk*d.h*d.dv + hi*d.dv }
func (d attnDims) oOff(bi, hi int) int { return bi*d.lq*d.h*d.dv + hi*d.dv }
func (d attnDims) sOff(bi, hi int) int { return (bi*d.h + hi) * d.lq * d.lk }

func attentionDims(q, k, v tensor.Shape, heads int) (attnDims, error) {
	bad := len(q) != 3 || len(k) != 3 || (v != nil && len(v) != 3) || heads <= 0
	if !bad {
		bad = q[0] != k[0] || q[2] != k[2] || q[2]%heads != 0 || (v != nil && (v[0] != k[0] || v[1] != k[1] || v[2]%heads != 0))
	}
	if bad {
		return attnDims{}, fmt.Errorf("nn: attention over q %v, k %v, v %v with %d heads: need [B, L, heads·d] with matching B and key lengths", q, k, v, heads)
	}
	d := attnDims{b: q[0], lq: q[1], lk: k[1], h: heads, dh: q[2] / heads}
	if v != nil {
		d.dv = v[2] / heads
	}
	return d, nil
}

// Attention is fused multi-head scaled dot-product attention:
// softmax(scale·Q_h·K_hᵀ [+ causal mask])·V_h per head h, heads laid side by side in the
// last axis of q [B, Lq, H·dh], k [B, Lk, H·dh], v [B, Lk, H·dv] and of the result
// [B, Lq, H·dv]. Heads are addressed in place (no transposes); the backward pass
// recomputes the probabilities one head at a time, so at most one [Lq, Lk] matrix is
// held.
func (b *Builder) Attention(q, k, v *G.Node, heads int, scale float64, causal bool) (*G.Node, error) {
	d, err := attentionDims(q.Shape(), k.Shape(), v.Shape(), heads)
	if err != nil {
		return nil, err
	}
	outShape := tensor.Shape{d.b, d.lq, d.h * d.dv}
	sig := fmt.Sprintf("Attention(h=%d,scale=%g,causal=%v)", heads, scale, causal)
	grad := func(in G.Nodes, _, dy *G.Node) (G.Nodes, error) {
		want := [3]bool{b.RequiresGrad(in[0]), b.RequiresGrad(in[1]), b.RequiresGrad(in[2])}
		nq, nk, nv := numel(in[0].Shape()), numel(in[1].Shape()), numel(in[2].Shape())
		k := kernel{attnBackward[float32](d, scale, causal, want), attnBackward[float64](d, scale, causal, want)}
		packed, err := backwardOp(fmt.Sprintf("AttentionGrad(h=%d,scale=%g,causal=%v,want=%v)", heads, scale, causal, want), k, tensor.Shape{nq + nk + nv}, in[0], in[1], in[2], dy)
		if err != nil {
			return nil, err
		}
		gs := make(G.Nodes, 3)
		off := 0
		for i, n := range []int{nq, nk, nv} {
			if want[i] {
				if gs[i], err = unpack(packed, off, in[i].Shape()); err != nil {
					return nil, err
				}
			}
			off += n
		}
		return gs, nil
	}
	kk := kernel{attnForward[float32](d, scale, causal), attnForward[float64](d, scale, causal)}
	return apply(sig, kk, outShape, b.diffs(q, k, v), grad, q, k, v)
}

func attnForward[T float](d attnDims, scale float64, causal bool) func(in [][]T, out []T) error {
	return func(in [][]T, out []T) error {
		q, k, v := in[0], in[1], in[2]
		p := make([]T, d.lq*d.lk)
		hdh, hdv := d.h*d.dh, d.h*d.dv
		for bi := 0; bi < d.b; bi++ {
			for hi := 0; hi < d.h; hi++ {
				gemm(false, true, d.lq, d.lk, d.dh, T(scale), q[d.qOff(bi, hi):], hdh, k[d.kOff(bi, hi):], hdh, 0, p, d.lk)
				softmaxRows(p, d.lq, d.lq, d.lk, causal)
				gemm(false, false, d.lq, d.dv, d.lk, 1, p, d.lk, v[d.vOff(bi, hi):], hdv, 0, out[d.oOff(bi, hi):], hdv)
			}
		}
		return nil
	}
}

// attnBackward writes [dq | dk | dv] (flattened, in that order) for inputs q, k, v, dO.
func attnBackward[T float](d attnDims, scale float64, causal bool, want [3]bool) func(in [][]T, out []T) error {
	return func(in [][]T, out []T) error {
		q, k, v, do := in[0], in[1], in[2], in[3]
		dq := out[:len(q)]
		dk := out[len(q) : len(q)+len(k)]
		dv := out[len(q)+len(k):]
		p := make([]T, d.lq*d.lk)
		dp := make([]T, d.lq*d.lk)
		hdh, hdv := d.h*d.dh, d.h*d.dv
		for bi := 0; bi < d.b; bi++ {
			for hi := 0; hi < d.h; hi++ {
				qo, ko, vo, oo := d.qOff(bi, hi), d.kOff(bi, hi), d.vOff(bi, hi), d.oOff(bi, hi)
				gemm(false, true, d.lq, d.lk, d.dh, T(scale), q[qo:], hdh, k[ko:], hdh, 0, p, d.lk)
				softmaxRows(p, d.lq, d.lq, d.lk, causal)
				if want[2] { // dV = Pᵀ·dO
					gemm(true, false, d.lk, d.dv, d.lq, 1, p, d.lk, do[oo:], hdv, 0, dv[vo:], hdv)
				}
				if !want[0] && !want[1] {
					continue
				}
				// dP = dO·Vᵀ, then dS = P ⊙ (dP − rowsum(P ⊙ dP))
				gemm(false, true, d.lq, d.lk, d.dv, 1, do[oo:], hdv, v[vo:], hdv, 0, dp, d.lk)
				softmaxBackRows(p, dp, d.lq, d.lk)
				if want[0] { // dQ = scale·dS·K
					gemm(false, false, d.lq, d.dh, d.lk, T(scale), dp, d.lk, k[ko:], hdh, 0, dq[qo:], hdh)
				}
				if want[1] { // dK = scale·dSᵀ·Q
					gemm(true, false, d.lk, d.dh, d.lq, T(scale), dp, d.lk, q[qo:], hdh, 0, dk[ko:], hdh)
				}
			}
		}
		return nil
	}
}

// unpack copies the range [off, off+numel(shape)) of a flat node into a node of shape.
func unpack(flat *G.Node, off int, shape tensor.Shape) (*G.Node, error) {
	n := numel(shape)
	k := kernel{
		func(in [][]float32, out []float32) error { copy(out, in[0][off:off+n]); return nil },
		func(in [][]float64, out []float64) error { copy(out, in[0][off:off+n]); return nil },
	}
	return backwardOp(fmt.Sprintf("Unpack(%d)", off), k, shape, flat)
}

// AttentionScores is the first unfused attention step: scale·Q_h·K_hᵀ for every head,
// giving [B, H, Lq, Lk]. Hooks that edit scores or probabilities work on this layout.
func (b *Builder) AttentionScores(q, k *G.Node, heads int, scale float64) (*G.Node, error) {
	d, err := attentionDims(q.Shape(), k.Shape(), nil, heads)
	if err != nil {
		return nil, err
	}
	grad := func(in G.Nodes, _, ds *G.Node) (G.Nodes, error) {
		gs := make(G.Nodes, 2)
		var err error
		if b.RequiresGrad(in[0]) {
			kk := kernel{scoresGradQ[float32](d, scale), scoresGradQ[float64](d, scale)}
			if gs[0], err = backwardOp(fmt.Sprintf("ScoresGradQ(%d,%g)", heads, scale), kk, in[0].Shape(), in[1], ds); err != nil {
				return nil, err
			}
		}
		if b.RequiresGrad(in[1]) {
			kk := kernel{scoresGradK[float32](d, scale), scoresGradK[float64](d, scale)}
			if gs[1], err = backwardOp(fmt.Sprintf("ScoresGradK(%d,%g)", heads, scale), kk, in[1].Shape(), in[0], ds); err != nil {
				return nil, err
			}
		}
		return gs, nil
	}
	kk := kernel{scoresForward[float32](d, scale), scoresForward[float64](d, scale)}
	return apply(fmt.Sprintf("AttentionScores(%d,%g)", heads, scale), kk, tensor.Shape{d.b, d.h, d.lq, d.lk}, b.diffs(q, k), grad, q, k)
}

func scoresForward[T float](d attnDims, scale float64) func(in [][]T, out []T) error {
	return func(in [][]T, out []T) error {
		hdh := d.h * d.dh
		for bi := 0; bi < d.b; bi++ {
			for hi := 0; hi < d.h; hi++ {
				gemm(false, true, d.lq, d.lk, d.dh, T(scale), in[0][d.qOff(bi, hi):], hdh, in[1][d.kOff(bi, hi):], hdh, 0, out[d.sOff(bi, hi):], d.lk)
			}
		}
		return nil
	}
}

// inputs k, dS
func scoresGradQ[T float](d attnDims, scale float64) func(in [][]T, out []T) error {
	return func(in [][]T, out []T) error {
		hdh := d.h * d.dh
		for bi := 0; bi < d.b; bi++ {
			for hi := 0; hi < d.h; hi++ {
				gemm(false, false, d.lq, d.dh, d.lk, T(scale), in[1][d.sOff(bi, hi):], d.lk, in[0][d.kOff(bi, hi):], hdh, 0, out[d.qOff(bi, hi):], hdh)
			}
		}
		return nil
	}
}

// inputs q, dS
func scoresGradK[T float](d attnDims, scale float64) func(in [][]T, out []T) error {
	return func(in [][]T, out []T) error {
		hdh := d.h * d.dh
		for bi := 0; bi < d.b; bi++ {
			for hi := 0; hi < d.h; hi++ {
				gemm(true, false, d.lk, d.dh, d.lq, T(scale), in[1][d.sOff(bi, hi):], d.lk, in[0][d.qOff(bi, hi):], hdh, 0, out[d.kOff(bi, hi):], hdh)
			}
		}
		return nil
	}
}

// AttentionApply is the last unfused attention step: P_h·V_h for probabilities
// p [B, H, Lq, Lk] and values v [B, Lk, H·dv], giving [B, Lq, H·dv].
func (b *Builder) AttentionApply(p, v *G.Node) (*G.Node, error) {
	ps, vs := p.Shape(), v.Shape()
	if len(ps) != 4 || len(vs) != 3 || ps[0] != vs[0] || ps[3] != vs[1] || vs[2]%ps[1] != 0 {
		return nil, fmt.Errorf("nn: AttentionApply of probabilities %v and values %v: need [B, H, Lq, Lk] and [B, Lk, H·d]", ps, vs)
	}
	d := attnDims{b: ps[0], h: ps[1], lq: ps[2], lk: ps[3], dv: vs[2] / ps[1]}
	grad := func(in G.Nodes, _, do *G.Node) (G.Nodes, error) {
		gs := make(G.Nodes, 2)
		var err error
		if b.RequiresGrad(in[0]) {
			kk := kernel{applyGradP[float32](d), applyGradP[float64](d)}
			if gs[0], err = backwardOp("ApplyGradP", kk, in[0].Shape(), in[1], do); err != nil {
				return nil, err
			}
		}
		if b.RequiresGrad(in[1]) {
			kk := kernel{applyGradV[float32](d), applyGradV[float64](d)}
			if gs[1], err = backwardOp("ApplyGradV", kk, in[1].Shape(), in[0], do); err != nil {
				return nil, err
			}
		}
		return gs, nil
	}
	kk := kernel{applyForward[float32](d), applyForward[float64](d)}
	return apply("AttentionApply", kk, tensor.Shape{d.b, d.lq, d.h * d.dv}, b.diffs(p, v), grad, p, v)
}

func applyForward[T float](d attnDims) func(in [][]T, out []T) error {
	return func(in [][]T, out []T) error {
		hdv := d.h * d.dv
		for bi := 0; bi < d.b; bi++ {
			for hi := 0; hi < d.h; hi++ {
				gemm(false, false, d.lq, d.dv, d.lk, 1, in[0][d.sOff(bi, hi):], d.lk, in[1][d.vOff(bi, hi):], hdv, 0, out[d.oOff(bi, hi):], hdv)
			}
		}
		return nil
	}
}

// inputs v, dO: dP = dO·Vᵀ
func applyGradP[T float](d attnDims) func(in [][]T, out []T) error {
	return func(in [][]T, out []T) error {
		hdv := d.h * d.dv
		for bi := 0; bi < d.b; bi++ {
			for hi := 0; hi < d.h; hi++ {
				gemm(false, true, d.lq, d.lk, d.dv, 1, in[1][d.oOff(bi, hi):], hdv, in[0][d.vOff(bi, hi):], hdv, 0, out[d.sOff(bi, hi):], d.lk)
			}
		}
		return nil
	}
}

// inputs p, dO: dV = Pᵀ·dO
func applyGradV[T float](d attnDims) func(in [][]T, out []T) error {
	return func(in [][]T, out []T) error {
		hdv := d.h * d.dv
		for bi := 0; bi < d.b; bi++ {
			for hi := 0; hi < d.h; hi++ {
				gemm(true, false, d.lk, d.dv, d.lq, 1, in[0][d.sOff(bi, hi):], d.lk, in[1][d.oOff(bi, hi):], hdv, 0, out[d.vOff(bi, hi):], hdv)
			}
		}
		return nil
	}
}
