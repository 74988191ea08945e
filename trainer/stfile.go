package trainer

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/latexblend/latexblend/model/safetensors"
)

// encodeSafetensors returns a safetensors file's bytes (written through a temporary
// file: the safetensors package writes files only).
func encodeSafetensors(tensors []safetensors.Tensor, md map[string]string) ([]byte, error) {
	dir, err := os.MkdirTemp("", "latexblend-st-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	p := filepath.Join(dir, "f.safetensors")
	if err := safetensors.WriteFile(p, tensors, md); err != nil {
		return nil, err
	}
	return os.ReadFile(p)
}

// openSafetensorsBytes opens in-memory safetensors bytes; close removes the copy.
func openSafetensorsBytes(b []byte) (*safetensors.File, func(), error) {
	if _, err := safetensors.ParseHeader(b); err != nil {
		return nil, nil, err
	}
	dir, err := os.MkdirTemp("", "latexblend-st-")
	if err != nil {
		return nil, nil, err
	}
	p := filepath.Join(dir, "f.safetensors")
	if err := os.WriteFile(p, b, 0o600); err != nil {
		os.RemoveAll(dir)
		return nil, nil, err
	}
	f, err := safetensors.Open(p)
	if err != nil {
		os.RemoveAll(dir)
		return nil, nil, err
	}
	return f, func() { f.Close(); os.RemoveAll(dir) }, nil
}

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
