//go:build openblas

package nn

/*
void openblas_set_num_threads(int);
*/
import "C"

import (
	"gonum.org/v1/netlib/blas/netlib"
	G "gorgonia.org/gorgonia"
)

// Build with: CGO_LDFLAGS=-lopenblas go build -tags openblas (netlib's cgo binding declares
// no linker flags of its own, so the flag is mandatory).
const blasBackend = "openblas"

var backend blasImpl = netlib.Implementation{}

// init routes gorgonia's own ops (and the tensor package under it) through OpenBLAS too,
// so every GEMM in a graph runs on the same backend as our kernels.
func init() { G.Use(netlib.Implementation{}) }

// SetBLASThreads sets OpenBLAS's thread count and reports true. The tiny models'
// GEMMs are small and our own kernels already use every core, so OpenBLAS's extra
// threads mostly spin and take CPU from them: one thread made a shapes training step
// about 20% faster on 2 cores.
func SetBLASThreads(n int) bool {
	C.openblas_set_num_threads(C.int(max(n, 1)))
	return true
}
