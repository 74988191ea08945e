package nn

// BLASBackend names the BLAS implementation compiled into this binary: "gonum" (pure Go,
// the default) or "openblas" (built with -tags openblas and CGO_LDFLAGS=-lopenblas). It
// is a single word so it can stand in key=value output.
func BLASBackend() string { return blasBackend }
