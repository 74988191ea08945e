package diffusers

import (
	"fmt"
	"os"
	"path/filepath"
)

// File names inside a component folder.
const (
	ConfigFile          = "config.json"           // models (UNet, VAE, text encoders)
	SchedulerConfigFile = "scheduler_config.json" // schedulers
)

// Model is an opened diffusers model folder.
type Model struct {
	Dir   string
	Index *ModelIndex
}

// Open reads dir/model_index.json and checks every component it names has a folder.
func Open(dir string) (*Model, error) {
	ix, err := ReadModelIndex(dir)
	if err != nil {
		return nil, err
	}
	for _, c := range ix.Components {
		st, err := os.Stat(filepath.Join(dir, c.Name))
		if err != nil || !st.IsDir() {
			return nil, fmt.Errorf("diffusers: %s: %s names component %q (%s.%s) but the folder %s is missing",
				dir, IndexFile, c.Name, c.Library, c.Class, filepath.Join(dir, c.Name))
		}
	}
	return &Model{Dir: dir, Index: ix}, nil
}

// ComponentDir returns the folder of a component listed in model_index.json.
func (m *Model) ComponentDir(name string) (string, error) {
	if _, ok := m.Index.Component(name); !ok {
		return "", fmt.Errorf("diffusers: %s: %s has no component %q", m.Dir, IndexFile, name)
	}
	return filepath.Join(m.Dir, name), nil
}

func (m *Model) componentFile(component, file string) (string, error) {
	dir, err := m.ComponentDir(component)
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, file), nil
}

// UNetConfig reads unet/config.json.
func (m *Model) UNetConfig() (*UNetConfig, error) {
	p, err := m.componentFile("unet", ConfigFile)
	if err != nil {
		return nil, err
	}
	return ReadUNetConfig(p)
}

// VAEConfig reads vae/config.json.
func (m *Model) VAEConfig() (*VAEConfig, error) {
	p, err := m.componentFile("vae", ConfigFile)
	if err != nil {
		return nil, err
	}
	return ReadVAEConfig(p)
}

// TextEncoderConfig reads <component>/config.json, e.g. "text_encoder" or
// "text_encoder_2".
func (m *Model) TextEncoderConfig(component string) (*CLIPTextConfig, error) {
	p, err := m.componentFile(component, ConfigFile)
	if err != nil {
		return nil, err
	}
	return ReadCLIPTextConfig(p)
}

// SchedulerConfig reads scheduler/scheduler_config.json.
func (m *Model) SchedulerConfig() (*SchedulerConfig, error) {
	p, err := m.componentFile("scheduler", SchedulerConfigFile)
	if err != nil {
		return nil, err
	}
	return ReadSchedulerConfig(p)
}

// OpenWeights opens a component's weights; variant is "" for the default files or
// e.g. "fp16" for diffusion_pytorch_model.fp16.safetensors.
func (m *Model) OpenWeights(component, variant string) (*Weights, error) {
	dir, err := m.ComponentDir(component)
	if err != nil {
		return nil, err
	}
	return OpenWeights(dir, variant)
}
