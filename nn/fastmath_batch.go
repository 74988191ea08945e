package nn

import "math"

// Batch float32 kernels. On the development VM a call to expf through a function value
// costs about 25 ns per element inside a loop, against about 6 ns when the same
// polynomial is written into the loop body (the call spills the float registers and
// blocks overlapping consecutive elements). Softmax, SiLU, QuickGELU and GELU ran every
// element through such calls and took half of a shapes-model training step, so their
// float32 kernels use these loops instead. The arithmetic is expf's and erff's (same
// reduction, same polynomials, float64 inside), so results agree with them to the last
// float32 bit in almost every case and stay within their stated error bounds.

const (
	expHi  = 88.72283905206835 // e^x overflows float32 above this
	expLo  = -103.97207708     // and is 0 below this, as expf
	log2e  = 1.44269504088896341
	ln2hi  = 0.693359375
	ln2lo  = -2.12194440e-4
	sqrt2  = math.Sqrt2
	invSqr = 0.3989422804014327 // 1/√(2π)
	// roundMagic is 1.5·2⁵²: adding and subtracting it rounds a float64 of magnitude
	// below 2⁵¹ to the nearest integer (Go never reassociates float arithmetic).
	roundMagic = 6755399441055744.0
)

// expPoly is expf's core for x within [expLo, expHi]; written small enough for the
// compiler to inline it into the loops below.
func expPoly(x float64) float64 {
	n := x*log2e + roundMagic - roundMagic // x·log2(e) rounded to the nearest integer
	k := int64(n)
	r := x - n*ln2hi - n*ln2lo
	p := ((((1.9875691500e-4*r+1.3981999507e-3)*r+8.3334519073e-3)*r+4.1665795894e-2)*r+1.6666665459e-1)*r + 5.0000001201e-1
	return (p*r*r + r + 1) * math.Float64frombits(uint64(k+1023)<<52)
}

// expClamped is e^x for any x: +Inf above expHi, 0 below expLo, NaN for NaN.
func expClamped(x float64) float64 {
	switch {
	case x > expHi:
		return math.Inf(1)
	case x >= expLo:
		return expPoly(x)
	case x != x:
		return x
	}
	return 0
}

// expShiftSum32 sets row[j] = e^(row[j] − m) for every j and returns their sum. Every
// argument is ≤ 0 when m is the row maximum, as in softmax.
func expShiftSum32(row []float32, m float32) float64 {
	var sum float64
	for j, v := range row {
		x := float64(v - m)
		var e float64
		if x >= expLo {
			e = expPoly(x)
		} else if x != x {
			e = x
		}
		row[j] = float32(e)
		sum += e
	}
	return sum
}

// sigmoidScaled32 writes σ(a·x[i]) to s[i] (float64, for the callers' products).
func sigmoidScaled32(s []float64, x []float32, a float64) {
	for i, v := range x {
		z := -a * float64(v)
		switch {
		case z > expHi:
			s[i] = 0
		case z >= expLo:
			s[i] = 1 / (1 + expPoly(z))
		case z != z:
			s[i] = z
		default:
			s[i] = 1
		}
	}
}

// erfBatch is erff inlined for the GELU kernels: erf of x into e (float64).
func erfBatch(e []float64, x []float64) {
	for i, v := range x {
		a := math.Abs(v)
		var y float64
		if a < 0.5 {
			z := a * a
			s := ((((((1.0/9360)*z-1.0/1320)*z+1.0/216)*z-1.0/42)*z+1.0/10)*z-1.0/3)*z + 1
			y = 1.1283791670955126 * a * s
		} else {
			t := 1 / (1 + 0.5*a)
			q := -a*a - 1.26551223 + t*(1.00002368+t*(0.37409196+t*(0.09678418+
				t*(-0.18628806+t*(0.27886807+t*(-1.13520398+t*(1.48851587+
					t*(-0.82215223+t*0.17087277))))))))
			var eq float64
			if q >= expLo {
				eq = expPoly(q)
			}
			y = 1 - t*eq
		}
		if v < 0 {
			y = -y
		}
		e[i] = y
	}
}

// batchChunk bounds the scratch buffers of the batch activation kernels (on the stack).
const batchChunk = 256

// sigmoidActivation32 returns the float32 forward and gradient loops of x·σ(a·x)
// (SiLU with a = 1, QuickGELU with a = 1.702).
func sigmoidActivation32(a float64) (fwd func(x, out []float32), grad func(x, dy, out []float32)) {
	fwd = func(x, out []float32) {
		var s [batchChunk]float64
		for lo := 0; lo < len(x); lo += batchChunk {
			xs := x[lo:min(lo+batchChunk, len(x))]
			sigmoidScaled32(s[:len(xs)], xs, a)
			for i, v := range xs {
				out[lo+i] = float32(float64(v) * s[i])
			}
		}
	}
	grad = func(x, dy, out []float32) {
		var s [batchChunk]float64
		for lo := 0; lo < len(x); lo += batchChunk {
			xs := x[lo:min(lo+batchChunk, len(x))]
			sigmoidScaled32(s[:len(xs)], xs, a)
			for i, v := range xs {
				si := s[i]
				d := si + a*float64(v)*si*(1-si)
				out[lo+i] = float32(d) * dy[lo+i]
			}
		}
	}
	return fwd, grad
}

// erfHalfSqrt2 writes erf(x[i]/√2) to e[i] (float64), the GELU kernels' common part.
func erfHalfSqrt2(e []float64, x []float32) {
	var u [batchChunk]float64
	for i, v := range x {
		u[i] = float64(v) / sqrt2
	}
	erfBatch(e, u[:len(x)])
}

// geluActivation32 returns the float32 loops of the exact GELU 0.5·x·(1+erf(x/√2)).
func geluActivation32() (fwd func(x, out []float32), grad func(x, dy, out []float32)) {
	fwd = func(x, out []float32) {
		var e [batchChunk]float64
		for lo := 0; lo < len(x); lo += batchChunk {
			xs := x[lo:min(lo+batchChunk, len(x))]
			erfHalfSqrt2(e[:len(xs)], xs)
			for i, v := range xs {
				out[lo+i] = float32(0.5 * float64(v) * (1 + e[i]))
			}
		}
	}
	grad = func(x, dy, out []float32) {
		var e [batchChunk]float64
		for lo := 0; lo < len(x); lo += batchChunk {
			xs := x[lo:min(lo+batchChunk, len(x))]
			erfHalfSqrt2(e[:len(xs)], xs)
			for i, v := range xs {
				xv := float64(v)
				g := -0.5 * xv * xv
				var eg float64
				if g >= expLo {
					eg = expPoly(g)
				}
				d := 0.5*(1+e[i]) + xv*eg*invSqr
				out[lo+i] = float32(d) * dy[lo+i]
			}
		}
	}
	return fwd, grad
}
