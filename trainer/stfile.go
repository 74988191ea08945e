package trainer

import (
	"fmt"

	"github.com/latexblend/latexblend/model/safetensors"
)

// readF32 reads a tensor that must exist with the given element count.
func readF32(f *safetensors.File, name string, n int) ([]float32, error) {
	info, ok := f.Info(name)
	if !ok {
		return nil, fmt.Errorf("tensor %q is missing", name)
	}
	if info.NumElements() != int64(n) {
		return nil, fmt.Errorf("tensor %q has shape %v (%d values), want %d values", name, info.Shape, info.NumElements(), n)
	}
	v, _, err := f.Float32(name)
	return v, err
}
