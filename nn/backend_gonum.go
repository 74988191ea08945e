//go:build !openblas

package nn

const blasBackend = "gonum (pure Go)"
