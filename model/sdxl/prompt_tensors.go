package sdxl

import (
	"fmt"
	"slices"

	"gorgonia.org/tensor"
)

// catFeatures joins a [B, L, Da] and b [B, L, Db] on the last axis: [B, L, Da+Db].
func catFeatures(a, b *tensor.Dense) (*tensor.Dense, error) {
	as, bs := a.Shape(), b.Shape()
	if len(as) != 3 || len(bs) != 3 || as[0] != bs[0] || as[1] != bs[1] {
		return nil, fmt.Errorf("cannot join %v and %v on the feature axis", as, bs)
	}
	rows, da, db := as[0]*as[1], as[2], bs[2]
	x, y := a.Data().([]float32), b.Data().([]float32)
	out := make([]float32, 0, rows*(da+db))
	for r := 0; r < rows; r++ {
		out = append(out, x[r*da:(r+1)*da]...)
		out = append(out, y[r*db:(r+1)*db]...)
	}
	return tensor.New(tensor.WithShape(as[0], as[1], da+db), tensor.WithBacking(out)), nil
}

// catRows stacks a [Na, …] and b [Nb, …] on the batch axis.
func catRows(a, b *tensor.Dense) (*tensor.Dense, error) {
	as, bs := a.Shape(), b.Shape()
	if len(as) != len(bs) || !slices.Equal([]int(as[1:]), []int(bs[1:])) {
		return nil, fmt.Errorf("cannot stack %v and %v on the batch axis", as, bs)
	}
	out := append(slices.Clone(a.Data().([]float32)), b.Data().([]float32)...)
	shape := append([]int{as[0] + bs[0]}, as[1:]...)
	return tensor.New(tensor.WithShape(shape...), tensor.WithBacking(out)), nil
}

// repeatRows repeats each row of x [B, …] n times in place order (torch's
// x.repeat(1, n, …).view(B·n, …)): rows r0 r0 r1 r1 … for n = 2.
func repeatRows(x *tensor.Dense, n int) (*tensor.Dense, error) {
	s := x.Shape()
	if len(s) < 1 {
		return nil, fmt.Errorf("sdxl: cannot repeat the rows of a scalar")
	}
	if n == 1 {
		return x, nil
	}
	row := s.TotalSize() / s[0]
	src := x.Data().([]float32)
	out := make([]float32, 0, len(src)*n)
	for r := 0; r < s[0]; r++ {
		for k := 0; k < n; k++ {
			out = append(out, src[r*row:(r+1)*row]...)
		}
	}
	shape := append([]int{s[0] * n}, s[1:]...)
	return tensor.New(tensor.WithShape(shape...), tensor.WithBacking(out)), nil
}

// zerosLike is an all-zero float32 tensor of x's shape.
func zerosLike(x *tensor.Dense) *tensor.Dense {
	return tensor.New(tensor.Of(tensor.Float32), tensor.WithShape(x.Shape().Clone()...))
}
