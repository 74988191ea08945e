package trainer

import (
	"fmt"
	"path/filepath"

	"github.com/latexblend/latexblend/model/diffusers"
	"github.com/latexblend/latexblend/model/schedule"
	"github.com/latexblend/latexblend/model/sdxl"
	"github.com/latexblend/latexblend/model/unet"
	"github.com/latexblend/latexblend/model/vae"
)

// Base is one loaded copy of the base model: the trainer mutates its weights, so
// every rank of a local multi-rank run loads its own.
type Base struct {
	Dir string
	// Identity is diffusers.Identity of Dir; entries and deltas carry it.
	Identity string
	UNet     *unet.Model
	Prompt   *sdxl.PromptEncoder
	// VAE is nil when loaded with LoadBase(dir, false) (extraction needs no images).
	VAE *vae.Model
	// Noise is the DDPM training schedule of the model's scheduler config.
	Noise *schedule.DDPM
}

// LoadBase reads a diffusers SDXL folder; withVAE also loads the VAE.
func LoadBase(dir string, withVAE bool) (*Base, error) {
	id, err := diffusers.Identity(dir)
	if err != nil {
		return nil, fmt.Errorf("base model %s: %w", dir, err)
	}
	b := &Base{Dir: dir, Identity: id}
	if b.UNet, err = unet.Open(dir, ""); err != nil {
		return nil, fmt.Errorf("base model %s: %w", dir, err)
	}
	if b.Prompt, err = sdxl.LoadPromptEncoder(dir); err != nil {
		return nil, fmt.Errorf("base model %s: %w", dir, err)
	}
	cfg, err := schedule.LoadConfig(filepath.Join(dir, "scheduler", "scheduler_config.json"))
	if err != nil {
		return nil, fmt.Errorf("base model %s: %w", dir, err)
	}
	if b.Noise, err = schedule.NewDDPM(cfg); err != nil {
		return nil, fmt.Errorf("base model %s: scheduler: %w", dir, err)
	}
	if withVAE {
		if b.VAE, err = vae.Load(filepath.Join(dir, "vae"), ""); err != nil {
			return nil, fmt.Errorf("base model %s: %w", dir, err)
		}
	}
	return b, nil
}

// Close releases compiled graphs.
func (b *Base) Close() {
	b.UNet.Release()
	b.Prompt.Close()
	if b.VAE != nil {
		b.VAE.Close()
	}
}

// NumTrainTimesteps is the DDPM schedule's length (1000).
func (b *Base) NumTrainTimesteps() int { return len(b.Noise.AlphasCumprod()) }
