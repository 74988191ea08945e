package nn

import "gonum.org/v1/gonum/blas"

// float is the element type of every kernel: float32 is the working type, float64 is used
// by the gradient checks.
type float interface{ float32 | float64 }

// blasImpl is the subset of BLAS our kernels need.
type blasImpl interface {
	blas.Float32Level3
	blas.Float64Level3
}

func transFlag(t bool) blas.Transpose {
	if t {
		return blas.Trans
	}
	return blas.NoTrans
}

// gemm computes c = alpha·op(a)·op(b) + beta·c on row-major matrices with leading
// dimensions lda, ldb, ldc (so a head of a [L, H·d] activation is addressed in place).
func gemm[T float](transA, transB bool, m, n, k int, alpha T, a []T, lda int, b []T, ldb int, beta T, c []T, ldc int) {
	if m == 0 || n == 0 {
		return
	}
	ta, tb := transFlag(transA), transFlag(transB)
	switch av := any(a).(type) {
	case []float32:
		backend.Sgemm(ta, tb, m, n, k, float32(alpha), av, lda, any(b).([]float32), ldb, float32(beta), any(c).([]float32), ldc)
	case []float64:
		backend.Dgemm(ta, tb, m, n, k, float64(alpha), av, lda, any(b).([]float64), ldb, float64(beta), any(c).([]float64), ldc)
	}
}

// GEMMDirect multiplies row-major a [m,k] by b [k,n] into c [m,n] straight on the active
// BLAS backend, bypassing the graph. It exists so benchmarks can measure what our layer
// adds on top of the backend.
func GEMMDirect(m, n, k int, a, b, c []float32) {
	backend.Sgemm(blas.NoTrans, blas.NoTrans, m, n, k, 1, a, k, b, n, 0, c, n)
}
