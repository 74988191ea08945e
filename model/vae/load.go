package vae

import (
	"fmt"
	"path/filepath"

	"gorgonia.org/tensor"

	"github.com/latexblend/latexblend/model/diffusers"
)

// Load reads an AutoencoderKL from a diffusers component folder (a model's vae/):
// config.json and diffusion_pytorch_model[.variant].safetensors, as float32.
func Load(dir, variant string) (*Model, error) {
	cfg, err := diffusers.ReadVAEConfig(filepath.Join(dir, diffusers.ConfigFile))
	if err != nil {
		return nil, fmt.Errorf("vae: %w", err)
	}
	w, err := diffusers.OpenWeights(dir, variant)
	if err != nil {
		return nil, fmt.Errorf("vae: %w", err)
	}
	defer w.Close()
	m, err := New(*cfg, tensor.Float32)
	if err != nil {
		return nil, fmt.Errorf("vae: %s: %w", dir, err)
	}
	if err := m.LoadWeights(w); err != nil {
		return nil, err
	}
	return m, nil
}

// FromModel loads the "vae" component of an opened diffusers model folder.
func FromModel(md *diffusers.Model, variant string) (*Model, error) {
	dir, err := md.ComponentDir("vae")
	if err != nil {
		return nil, fmt.Errorf("vae: %w", err)
	}
	return Load(dir, variant)
}

// LoadWeights fills every parameter from src by its diffusers key (legacy mid-block
// attention names are mapped, see renamedSource). Any missing, unexpected, mis-shaped
// or non-float tensor fails the whole load with one *diffusers.MismatchError listing
// them all, found before any parameter is changed.
func (m *Model) LoadWeights(src diffusers.Float32Source) error {
	names := m.Params.Names()
	targets := make([]diffusers.Target, len(names))
	var widen []int // targets read into scratch buffers for a float64 store
	for i, name := range names {
		p := m.Params.Get(name)
		t := diffusers.Target{ParamSpec: diffusers.ParamSpec{Name: name, Shape: []int(p.Shape())}}
		if d, ok := p.Value.Data().([]float32); ok {
			t.Data = d
		} else {
			t.Data = make([]float32, p.Value.Shape().TotalSize())
			widen = append(widen, i)
		}
		targets[i] = t
	}
	// diffusers.Load checks every name and shape before it reads any data, so a
	// mismatch leaves the parameters as they were.
	if err := diffusers.Load(newRenamedSource(src), targets, diffusers.CheckOptions{}); err != nil {
		return fmt.Errorf("vae: %w", err)
	}
	for _, i := range widen {
		d := m.Params.Get(names[i]).Value.Data().([]float64)
		for j, v := range targets[i].Data {
			d[j] = float64(v)
		}
	}
	return nil
}
