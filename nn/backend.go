package nn

// BLASBackend names the BLAS implementation compiled into this binary. The pure-Go gonum
// implementation is the default; building with the openblas tag switches to OpenBLAS.
func BLASBackend() string { return blasBackend }
