package sdxl

import "math"

// ln2Hi + ln2Lo = ln 2 to about 2^-100; ln2Hi has trailing zero bits so k·ln2Hi is exact
// for the exponents of normal float64 values (fdlibm's split).
const (
	ln2Hi = 6.93147180369123816490e-01
	ln2Lo = 1.90821492927058770002e-10
)

// detLog is the natural logarithm of a positive, finite x, accurate to a few ulps and
// bit-for-bit the same on every platform: it uses only exactly rounded operations
// (Frexp, +, -, ×, ÷), each result forced to float64 so the compiler cannot fuse them.
// It writes x = m·2^k with m in [√½, √2) and sums the series
// ln m = 2·(f + f³/3 + f⁵/5 + …), f = (m-1)/(m+1), |f| ≤ 0.172, to 1e-19.
func detLog(x float64) float64 {
	if !(x > 0) || math.IsInf(x, 1) {
		return math.Log(x) // NaN, -Inf, +Inf: the special values need no arithmetic
	}
	m, k := math.Frexp(x) // m in [0.5, 1)
	if m < math.Sqrt2/2 {
		m *= 2
		k--
	}
	f := float64(m-1) / float64(m+1)
	f2 := float64(f * f)
	// Horner over the odd-power coefficients 1/(2j+1), j = 12 … 1.
	p := 1.0 / 25
	for j := 11; j >= 1; j-- {
		p = float64(p*f2) + 1/float64(2*j+1)
	}
	// ln m = 2f + 2f·f2·p
	lnm := float64(2*f) + float64(float64(2*f)*float64(f2*p))
	kf := float64(k)
	return float64(kf*ln2Hi) + float64(lnm+float64(kf*ln2Lo))
}
