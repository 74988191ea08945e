package sdxl

import (
	"sync"
	"testing"

	"gorgonia.org/tensor"

	"github.com/latexblend/latexblend/internal/golden"
	"github.com/latexblend/latexblend/model/safetensors"
)

// goldenPipelineTol is golden/README.md's tolerance for multi-step pipelines (final
// latents, decoded image), relative to the reference tensor's largest magnitude.
const goldenPipelineTol = 5e-4

// tinyPipeline loads golden tiny-sdxl once for the package's tests (it is safe for
// concurrent use, which is part of what the tests exercise).
var tinyPipeline = struct {
	once sync.Once
	p    *Pipeline
	err  error
}{}

func loadTinyPipeline(t *testing.T) *Pipeline {
	t.Helper()
	dir := golden.Path(t, "tiny-sdxl")
	tinyPipeline.once.Do(func() { tinyPipeline.p, tinyPipeline.err = Load(dir, LoadOptions{}) })
	if tinyPipeline.err != nil {
		t.Fatal(tinyPipeline.err)
	}
	return tinyPipeline.p
}

func openPipelineGolden(t *testing.T) *safetensors.File {
	t.Helper()
	f, err := safetensors.Open(golden.Path(t, "cases", "pipeline.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func f32Data(t *testing.T, x *tensor.Dense) []float32 {
	t.Helper()
	d, ok := x.Data().([]float32)
	if !ok {
		t.Fatalf("tensor is %v, want float32", x.Dtype())
	}
	return d
}

func denseF32(data []float32, shape ...int) *tensor.Dense {
	return tensor.New(tensor.WithShape(shape...), tensor.WithBacking(append([]float32(nil), data...)))
}
