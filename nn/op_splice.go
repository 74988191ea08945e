package nn

import (
	"fmt"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// SpliceBlock copies Len consecutive positions along the splice axis from
// src[SrcOuter, SrcPos:SrcPos+Len] to out[DstOuter, DstPos:DstPos+Len]. "Outer" indexes
// everything before the axis flattened (the batch row for axis 1). Outer -1 on both
// sides means "every outer index, each from itself".
type SpliceBlock struct {
	DstOuter, DstPos, SrcOuter, SrcPos, Len int
}

// SpliceBlocksTensor packs blocks into the [n, 5] tensor Splice takes as its blocks
// input (whole numbers in the graph's float type), so the positions can change per run
// without rebuilding the graph.
func SpliceBlocksTensor(dt tensor.Dtype, blocks []SpliceBlock) *tensor.Dense {
	vals := make([]float64, 0, 5*len(blocks))
	for _, b := range blocks {
		vals = append(vals, float64(b.DstOuter), float64(b.DstPos), float64(b.SrcOuter), float64(b.SrcPos), float64(b.Len))
	}
	n := max(len(blocks), 1)
	if len(blocks) == 0 { // an empty block list is one zero-length block
		vals = []float64{0, 0, 0, 0, 0}
	}
	if dt == tensor.Float64 {
		return tensor.New(tensor.WithShape(n, 5), tensor.WithBacking(vals))
	}
	f := make([]float32, len(vals))
	for i, v := range vals {
		f[i] = float32(v)
	}
	return tensor.New(tensor.WithShape(n, 5), tensor.WithBacking(f))
}

// spliceGeom reads a tensor as [outer, L, inner] around the splice axis.
type spliceGeom struct{ outer, l, inner int }

func spliceGeomOf(s tensor.Shape, axis int) spliceGeom {
	g := spliceGeom{outer: 1, l: s[axis], inner: 1}
	for _, d := range s[:axis] {
		g.outer *= d
	}
	for _, d := range s[axis+1:] {
		g.inner *= d
	}
	return g
}

// Splice returns base with blocks of positions along axis replaced by positions of src.
// base and src must agree on every dimension after axis; blocks is an [n, 5] node of
// SpliceBlocks (see SpliceBlocksTensor), read at run time, so LatexBlend's per-step
// positions (the concept tokens of the instance prompt moved into the replace prompt's
// K/V, the bank's K/V written over the article/noun slots, the noun's score column
// copied onto the article's) need no rebuild. Destination blocks must not overlap; bad
// blocks fail the run with an error naming the block. Gradients flow to base (zero at
// the overwritten positions) and to src (the copied positions); base and src may be the
// same node.
func (b *Builder) Splice(axis int, base, src, blocks *G.Node) (*G.Node, error) {
	bs, ss := base.Shape(), src.Shape()
	ok := axis >= 0 && axis < len(bs) && len(bs) == len(ss) && len(blocks.Shape()) == 2 && blocks.Shape()[1] == 5
	for i := axis + 1; ok && i < len(bs); i++ {
		ok = bs[i] == ss[i]
	}
	if !ok {
		return nil, fmt.Errorf("nn: Splice along axis %d of base %v from src %v with blocks %v: need equal ranks, equal dimensions after the axis and blocks [n, 5]", axis, bs, ss, blocks.Shape())
	}
	gb, gs := spliceGeomOf(bs, axis), spliceGeomOf(ss, axis)
	nb := blocks.Shape()[0]
	baseShape, srcShape := bs.Clone(), ss.Clone()
	sig := fmt.Sprintf("Splice(axis=%d)", axis)
	grad := func(in G.Nodes, _, dy *G.Node) (G.Nodes, error) {
		gr := make(G.Nodes, 3)
		var err error
		if b.RequiresGrad(in[0]) {
			k := kernel{spliceGradBase[float32](gb, gs, nb), spliceGradBase[float64](gb, gs, nb)}
			if gr[0], err = backwardOp(sig+"GradBase", k, baseShape, dy, in[2]); err != nil {
				return nil, err
			}
		}
		if b.RequiresGrad(in[1]) {
			k := kernel{spliceGradSrc[float32](gb, gs, nb), spliceGradSrc[float64](gb, gs, nb)}
			if gr[1], err = backwardOp(sig+"GradSrc", k, srcShape, dy, in[2]); err != nil {
				return nil, err
			}
		}
		return gr, nil
	}
	d := b.diffs(base, src, blocks)
	d[2] = false
	k := kernel{spliceForward[float32](gb, gs, nb), spliceForward[float64](gb, gs, nb)}
	return apply(sig, k, baseShape, d, grad, base, src, blocks)
}

// spliceBlocks decodes and validates the blocks input.
func spliceBlocks[T float](raw []T, nb int, gb, gs spliceGeom) ([]SpliceBlock, error) {
	blocks := make([]SpliceBlock, 0, nb)
	used := map[[2]int]bool{}
	for i := 0; i < nb; i++ {
		var f [5]int
		for j := range f {
			v := float64(raw[i*5+j])
			if v != float64(int(v)) {
				return nil, fmt.Errorf("splice block %d: field %d is %v, not a whole number", i, j, v)
			}
			f[j] = int(v)
		}
		blk := SpliceBlock{DstOuter: f[0], DstPos: f[1], SrcOuter: f[2], SrcPos: f[3], Len: f[4]}
		if blk.Len == 0 {
			continue
		}
		all := blk.DstOuter == -1
		bad := blk.Len < 0 || all != (blk.SrcOuter == -1) || (all && gb.outer != gs.outer) ||
			(!all && (blk.DstOuter < 0 || blk.DstOuter >= gb.outer || blk.SrcOuter < 0 || blk.SrcOuter >= gs.outer)) ||
			blk.DstPos < 0 || blk.DstPos+blk.Len > gb.l || blk.SrcPos < 0 || blk.SrcPos+blk.Len > gs.l
		if bad {
			return nil, fmt.Errorf("splice block %d %+v does not fit base [%d, %d, %d] and src [%d, %d, %d]", i, blk, gb.outer, gb.l, gb.inner, gs.outer, gs.l, gs.inner)
		}
		for o := 0; o < gb.outer; o++ {
			if !all && o != blk.DstOuter {
				continue
			}
			for p := blk.DstPos; p < blk.DstPos+blk.Len; p++ {
				if used[[2]int{o, p}] {
					return nil, fmt.Errorf("splice block %d %+v overwrites position %d of outer index %d, which an earlier block already wrote", i, blk, p, o)
				}
				used[[2]int{o, p}] = true
			}
		}
		blocks = append(blocks, blk)
	}
	return blocks, nil
}

// eachCopy calls fn(dstOffset, srcOffset, n) for every contiguous run a block copies.
func eachCopy(blocks []SpliceBlock, gb, gs spliceGeom, fn func(dst, src, n int)) {
	for _, blk := range blocks {
		for o := 0; o < gb.outer; o++ {
			so := blk.SrcOuter
			if blk.DstOuter == -1 {
				so = o
			} else if o != blk.DstOuter {
				continue
			}
			fn((o*gb.l+blk.DstPos)*gb.inner, (so*gs.l+blk.SrcPos)*gs.inner, blk.Len*gb.inner)
		}
	}
}

func spliceForward[T float](gb, gs spliceGeom, nb int) func(in [][]T, out []T) error {
	return func(in [][]T, out []T) error {
		blocks, err := spliceBlocks(in[2], nb, gb, gs)
		if err != nil {
			return err
		}
		copy(out, in[0])
		src := in[1]
		eachCopy(blocks, gb, gs, func(d, s, n int) { copy(out[d:d+n], src[s:s+n]) })
		return nil
	}
}

// inputs dy, blocks
func spliceGradBase[T float](gb, gs spliceGeom, nb int) func(in [][]T, out []T) error {
	return func(in [][]T, out []T) error {
		blocks, err := spliceBlocks(in[1], nb, gb, gs)
		if err != nil {
			return err
		}
		copy(out, in[0])
		eachCopy(blocks, gb, gs, func(d, _, n int) { clear(out[d : d+n]) })
		return nil
	}
}

// inputs dy, blocks
func spliceGradSrc[T float](gb, gs spliceGeom, nb int) func(in [][]T, out []T) error {
	return func(in [][]T, out []T) error {
		blocks, err := spliceBlocks(in[1], nb, gb, gs)
		if err != nil {
			return err
		}
		dy := in[0]
		eachCopy(blocks, gb, gs, func(d, s, n int) {
			for i := 0; i < n; i++ {
				out[s+i] += dy[d+i]
			}
		})
		return nil
	}
}
