package judge

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/latexblend/latexblend/model/safetensors"
	"github.com/latexblend/latexblend/nn"
	"github.com/latexblend/latexblend/shapes"
)

// Weights file metadata: the format tag and the label layout the weights were trained
// for, so a file from another label layout is refused instead of misread.
const (
	metaFormat = "format"
	metaLabels = "labels"
	formatTag  = "latexblend-shapes-judge/1"
)

func labelList() string {
	names := make([]string, NumLabels)
	for i := range names {
		names[i] = LabelName(i)
	}
	return strings.Join(names, ",")
}

// Save writes the network's parameters to a safetensors file in float16 (the judge's
// decisions do not change at that precision and the file stays small), with extra
// metadata entries.
func (n *Network) Save(path string, extra map[string]string) error {
	var ts []safetensors.Tensor
	for _, name := range n.Params.Names() {
		p := n.Params.Get(name)
		ts = append(ts, safetensors.Tensor{
			Name: name, Shape: p.Shape(), DType: safetensors.F16,
			F32: append([]float32(nil), p.Value.Data().([]float32)...),
		})
	}
	meta := map[string]string{metaFormat: formatTag, metaLabels: labelList()}
	for k, v := range extra {
		meta[k] = v
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("judge: %w", err)
	}
	if err := safetensors.WriteFile(path, ts, meta); err != nil {
		return fmt.Errorf("judge: saving weights: %w", err)
	}
	return nil
}

// Load reads a judge saved by Save.
func Load(path string) (*Judge, error) {
	f, err := safetensors.Open(path)
	if err != nil {
		return nil, fmt.Errorf("judge: %w", err)
	}
	defer f.Close()
	meta := f.Metadata()
	if meta[metaFormat] != formatTag {
		return nil, fmt.Errorf("judge: %s: metadata %s = %q, want %q", path, metaFormat, meta[metaFormat], formatTag)
	}
	if meta[metaLabels] != labelList() {
		return nil, fmt.Errorf("judge: %s: trained for labels %q, this build has %q (retrain with `latexblend shapes judge train`)",
			path, meta[metaLabels], labelList())
	}
	net, err := NewNetwork()
	if err != nil {
		return nil, err
	}
	src := map[string]nn.Tensor{}
	for _, name := range f.Names() {
		data, shape, err := f.Float32(name)
		if err != nil {
			return nil, fmt.Errorf("judge: %w", err)
		}
		src[name] = nn.Tensor{Shape: shape, Data: data}
	}
	if err := net.Params.Load(src, nn.LoadOptions{}); err != nil {
		return nil, fmt.Errorf("judge: %s: %w", path, err)
	}
	return New(net), nil
}

// Default loads the committed judge, embedded in the binary (shapes.JudgeWeights).
func Default() (*Judge, error) {
	f, err := os.CreateTemp("", "judge-*.safetensors")
	if err != nil {
		return nil, fmt.Errorf("judge: %w", err)
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(shapes.JudgeWeights()); err != nil {
		f.Close()
		return nil, fmt.Errorf("judge: writing the embedded weights: %w", err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("judge: %w", err)
	}
	j, err := Load(f.Name())
	if err != nil {
		return nil, fmt.Errorf("judge: embedded weights: %w", err)
	}
	return j, nil
}

// LoadOrDefault loads path, or the embedded committed judge when path is "".
func LoadOrDefault(path string) (*Judge, error) {
	if path == "" {
		return Default()
	}
	return Load(path)
}
