package sdxl

import (
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"

	"github.com/latexblend/latexblend/model/diffusers"
	"github.com/latexblend/latexblend/model/schedule"
	"github.com/latexblend/latexblend/model/unet"
	"github.com/latexblend/latexblend/model/vae"
)

// Pipeline is a loaded SDXL model ready to sample: diffusers' StableDiffusionXLPipeline
// (v0.21.4) text-to-image path. It holds the UNet, the VAE, both text encoders and
// tokenizers and the scheduler config, loaded once.
//
// A Pipeline is safe for concurrent Generate calls: the models are (UNet forwards with
// the same graph run one at a time, others in parallel; VAE decodes are serialised) and
// every call builds its own scheduler. Adding tokens to Prompt while calls run is not
// safe.
type Pipeline struct {
	// Dir is the diffusers folder the pipeline was loaded from.
	Dir string
	// Identity is the model folder's digest (diffusers.Identity): what jobs, concept
	// entries and image metadata name the base model by.
	Identity string
	Prompt   *PromptEncoder
	UNet     *unet.Model
	VAE      *vae.Model
	// Scheduler is scheduler/scheduler_config.json; Generate builds a scheduler of the
	// requested kind from it for each call.
	Scheduler schedule.Config

	log *slog.Logger
}

// LoadOptions tune Load.
type LoadOptions struct {
	// Variant selects weight files such as "fp16" (widened to float32); "" the plain ones.
	Variant string
	// Logger receives load and per-generation messages; nil discards them.
	Logger *slog.Logger
}

// Load reads an SDXL diffusers folder: model_index.json, unet/, vae/, text_encoder/,
// text_encoder_2/, tokenizer/, tokenizer_2/ and scheduler/.
func Load(dir string, opts LoadOptions) (p *Pipeline, err error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	md, err := diffusers.Open(dir)
	if err != nil {
		return nil, fmt.Errorf("sdxl: %w", err)
	}
	p = &Pipeline{Dir: dir, log: log}
	defer func() {
		if err != nil {
			p.Close()
		}
	}()
	if p.Identity, err = diffusers.IdentityVariant(dir, opts.Variant); err != nil {
		return nil, fmt.Errorf("sdxl: model identity: %w", err)
	}
	if p.Prompt, err = LoadPromptEncoder(dir); err != nil {
		return nil, err
	}
	udir, err := md.ComponentDir("unet")
	if err != nil {
		return nil, fmt.Errorf("sdxl: %w", err)
	}
	if p.UNet, err = unet.Open(filepath.Dir(udir), opts.Variant); err != nil {
		return nil, fmt.Errorf("sdxl: %w", err)
	}
	if p.VAE, err = vae.FromModel(md, opts.Variant); err != nil {
		return nil, fmt.Errorf("sdxl: %w", err)
	}
	sdir, err := md.ComponentDir("scheduler")
	if err != nil {
		return nil, fmt.Errorf("sdxl: %w", err)
	}
	if p.Scheduler, err = schedule.LoadConfig(filepath.Join(sdir, diffusers.SchedulerConfigFile)); err != nil {
		return nil, fmt.Errorf("sdxl: %w", err)
	}
	if err := p.check(); err != nil {
		return nil, fmt.Errorf("sdxl: %s: %w", dir, err)
	}
	log.Info("sdxl pipeline loaded", "dir", dir, "identity", p.Identity,
		"unet_params", p.UNet.Params().Count(), "vae_scale_factor", p.VAE.DownFactor())
	return p, nil
}

// check verifies the components fit together.
func (p *Pipeline) check() error {
	cfg := p.UNet.Config()
	if cfg.InChannels != p.VAE.LatentChannels() {
		return fmt.Errorf("the UNet takes %d latent channels, the VAE makes %d", cfg.InChannels, p.VAE.LatentChannels())
	}
	if cfg.OutChannels != cfg.InChannels {
		return fmt.Errorf("the UNet predicts %d channels for %d-channel latents", cfg.OutChannels, cfg.InChannels)
	}
	return nil
}

// LatentChannels is the number of latent channels (4 for SDXL).
func (p *Pipeline) LatentChannels() int { return p.VAE.LatentChannels() }

// VAEScaleFactor is the image-to-latent ratio, 2^(VAE blocks-1) (8 for SDXL).
func (p *Pipeline) VAEScaleFactor() int { return p.VAE.DownFactor() }

// SizeMultiple is what image heights and widths must be multiples of: the VAE factor
// times the UNet's total upsampling, 2^(blocks-1) (8·4 = 32 for SDXL, 2·2 = 4 for the
// tiny test model), so every UNet level has whole latent pixels.
func (p *Pipeline) SizeMultiple() int {
	cfg := p.UNet.Config()
	return sizeMultiple(&cfg, p.VAEScaleFactor())
}

func sizeMultiple(cfg *diffusers.UNetConfig, vaeFactor int) int {
	return vaeFactor << max(len(cfg.BlockOutChannels)-1, 0)
}

// DefaultSize is diffusers' default (height, width): the UNet's sample_size times the
// VAE factor (1024×1024 for SDXL).
func (p *Pipeline) DefaultSize() (height, width int) {
	cfg := p.UNet.Config()
	return defaultSize(&cfg, p.VAEScaleFactor())
}

// defaultSize is sample_size (one int or [h, w]; 128 when absent) times the VAE factor.
func defaultSize(cfg *diffusers.UNetConfig, f int) (height, width int) {
	s := cfg.SampleSize
	switch len(s) {
	case 1:
		return s[0] * f, s[0] * f
	case 2:
		return s[0] * f, s[1] * f
	}
	return 128 * f, 128 * f
}

// NewScheduler builds a fresh scheduler of kind ("" = the model's own class) from the
// model's scheduler config.
func (p *Pipeline) NewScheduler(kind schedule.Kind) (schedule.Scheduler, error) {
	s, err := schedule.New(p.Scheduler, kind)
	if err != nil {
		return nil, fmt.Errorf("sdxl: scheduler: %w", err)
	}
	return s, nil
}

// Close releases the compiled graphs of every model.
func (p *Pipeline) Close() error {
	var errs []error
	if p.Prompt != nil {
		errs = append(errs, p.Prompt.Close())
	}
	if p.UNet != nil {
		errs = append(errs, p.UNet.Release())
	}
	if p.VAE != nil {
		errs = append(errs, p.VAE.Close())
	}
	return errors.Join(errs...)
}
