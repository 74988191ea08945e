//go:build !openblas

package nn

import "gonum.org/v1/gonum/blas/gonum"

const blasBackend = "gonum"

// backend is the BLAS our own kernels call. gorgonia's built-in ops use gonum's pure-Go
// implementation by default as well, so both agree without any setup.
var backend blasImpl = gonum.Implementation{}

// SetBLASThreads does nothing and reports false: gonum's GEMM threads are Go's.
func SetBLASThreads(int) bool { return false }
