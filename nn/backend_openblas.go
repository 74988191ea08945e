//go:build openblas

package nn

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
