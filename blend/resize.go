package blend

import "math"

// Resizing as torch.nn.functional.interpolate does it for the reference's attention
// maps: bicubic with antialias=True (PIL's filter, a = −0.5, weights normalised over
// the taps inside the image) and "nearest" (source index floor(dst·in/out)).

func cubicAA(x float64) float64 {
	const a = -0.5
	x = math.Abs(x)
	switch {
	case x < 1:
		return ((a+2)*x-(a+3))*x*x + 1
	case x < 2:
		return (((x-5)*x+8)*x - 4) * a
	}
	return 0
}

// aaWeights returns, for each output index, the first input index and the weights.
func aaWeights(in, out int) ([]int, [][]float64) {
	scale := float64(in) / float64(out)
	support, inv := 2.0, 1.0
	if scale >= 1 {
		support, inv = 2*scale, 1/scale
	}
	starts := make([]int, out)
	ws := make([][]float64, out)
	for i := 0; i < out; i++ {
		center := scale * (float64(i) + 0.5)
		lo := max(int(center-support+0.5), 0)
		hi := min(int(center+support+0.5), in)
		w := make([]float64, hi-lo)
		var total float64
		for j := range w {
			w[j] = cubicAA((float64(j+lo) - center + 0.5) * inv)
			total += w[j]
		}
		if total != 0 {
			for j := range w {
				w[j] /= total
			}
		}
		starts[i], ws[i] = lo, w
	}
	return starts, ws
}

// resizeBicubicAA resizes an h×w plane to oh×ow (identity when the sizes agree).
func resizeBicubicAA(src []float64, h, w, oh, ow int) []float64 {
	if h == oh && w == ow {
		return append([]float64(nil), src...)
	}
	xs, xw := aaWeights(w, ow)
	tmp := make([]float64, h*ow)
	for y := 0; y < h; y++ {
		for x := 0; x < ow; x++ {
			var s float64
			for j, wt := range xw[x] {
				s += wt * src[y*w+xs[x]+j]
			}
			tmp[y*ow+x] = s
		}
	}
	ys, yw := aaWeights(h, oh)
	out := make([]float64, oh*ow)
	for y := 0; y < oh; y++ {
		for x := 0; x < ow; x++ {
			var s float64
			for j, wt := range yw[y] {
				s += wt * tmp[(ys[y]+j)*ow+x]
			}
			out[y*ow+x] = s
		}
	}
	return out
}

// resizeNearest resizes an h×w plane to oh×ow by torch's legacy nearest rule.
func resizeNearest[T float32 | float64](src []T, h, w, oh, ow int) []T {
	out := make([]T, oh*ow)
	sy, sx := float32(h)/float32(oh), float32(w)/float32(ow)
	for y := 0; y < oh; y++ {
		iy := min(int(math.Floor(float64(float32(y)*sy))), h-1)
		for x := 0; x < ow; x++ {
			ix := min(int(math.Floor(float64(float32(x)*sx))), w-1)
			out[y*ow+x] = src[iy*w+ix]
		}
	}
	return out
}
