package clip

import (
	"fmt"
	"path/filepath"

	"github.com/latexblend/latexblend/model/diffusers"
	"github.com/latexblend/latexblend/nn"
)

// LoadTextModel reads a transformers text-encoder folder (config.json and the
// model.safetensors weights, or their shards), registers the model in ps under prefix
// and fills it (LoadWeights).
func LoadTextModel(ps *nn.Params, prefix, dir string) (*TextModel, error) {
	cfg, err := diffusers.ReadCLIPTextConfig(filepath.Join(dir, diffusers.ConfigFile))
	if err != nil {
		return nil, fmt.Errorf("clip: %w", err)
	}
	m, err := NewTextModel(ps, prefix, *cfg)
	if err != nil {
		return nil, fmt.Errorf("clip: %s: %w", dir, err)
	}
	w, err := diffusers.OpenWeights(dir, "")
	if err != nil {
		return nil, fmt.Errorf("clip: %w", err)
	}
	defer w.Close()
	if err := m.LoadWeights(w); err != nil {
		return nil, err
	}
	return m, nil
}

// LoadWeights fills the model from a transformers checkpoint (model.safetensors of a
// text_encoder or text_encoder_2 folder, opened with diffusers.OpenWeights). Names and
// shapes are checked first and every missing, unexpected, mis-shaped or non-float
// tensor is reported in one *diffusers.MismatchError; nothing is changed then. The
// position_ids buffer some files carry is ignored. Added token rows (AddTokenRows) are
// not in the checkpoint: the file's table must have vocab_size rows, which fill the
// first rows of the grown table while the added rows keep their values.
func (m *TextModel) LoadWeights(src diffusers.Float32Source) error {
	type widen struct {
		buf []float32
		dst []float64
	}
	var (
		targets []diffusers.Target
		wides   []widen
	)
	for _, full := range m.names {
		p := m.params.Get(full)
		shape := []int(p.Value.Shape().Clone())
		n := p.Value.Shape().TotalSize()
		if p == m.TokenEmbedding.Weight {
			shape[0] = m.Config.VocabSize
			n = shape[0] * shape[1]
		}
		t := diffusers.Target{ParamSpec: diffusers.ParamSpec{Name: m.checkpointKey(full), Shape: shape}}
		switch d := p.Value.Data().(type) {
		case []float32:
			t.Data = d[:n]
		case []float64:
			t.Data = make([]float32, n)
			wides = append(wides, widen{t.Data, d[:n]})
		default:
			return fmt.Errorf("clip: %s: parameter dtype %v is not float32 or float64", full, p.Value.Dtype())
		}
		targets = append(targets, t)
	}
	opts := diffusers.CheckOptions{AllowUnexpected: diffusers.AllowNames(diffusers.CLIPTextBuffers...)}
	if err := diffusers.Load(src, targets, opts); err != nil {
		return fmt.Errorf("clip: loading text model %q: %w", m.Prefix, err)
	}
	for _, w := range wides {
		for i, v := range w.buf {
			w.dst[i] = float64(v)
		}
	}
	return nil
}
