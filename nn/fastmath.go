package nn

// Elementwise exp and erf dominate the tiny models' training steps (SiLU, softmax and
// GELU run on every activation, forward and backward), and math.Exp and math.Erf work in
// float64 precision that float32 tensors throw away. These float32-accurate versions
// are faster (about 2× for exp); their relative error stays below 2e-7 (exp) and their
// absolute error below 3e-7 (erf), well under float32 rounding of the results that
// golden tests compare.

// expf is e^x to float32 precision: x = n·ln2 + r with |r| ≤ ln2/2, e^r by Cephes'
// degree-6 minimax polynomial, then scaled by 2^n (expPoly in fastmath_batch.go).
func expf(x float64) float64 { return expClamped(x) }

// erff is erf(x) to float32 precision (Abramowitz and Stegun 7.1.26 is too coarse for
// GELU gradients near 0, so small |x| use erf's Taylor series and larger ones the
// complementary form with e^x); the loop is erfBatch's.
func erff(x float64) float64 {
	var e [1]float64
	erfBatch(e[:], []float64{x})
	return e[0]
}
