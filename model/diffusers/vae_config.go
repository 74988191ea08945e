package diffusers

import (
	"encoding/json"
	"fmt"
)

// VAEConfig is vae/config.json of an AutoencoderKL.
type VAEConfig struct {
	ClassName        string   `json:"_class_name"`
	DiffusersVersion string   `json:"_diffusers_version"`
	InChannels       int      `json:"in_channels"`
	OutChannels      int      `json:"out_channels"`
	DownBlockTypes   []string `json:"down_block_types"`
	UpBlockTypes     []string `json:"up_block_types"`
	BlockOutChannels []int    `json:"block_out_channels"`
	LayersPerBlock   int      `json:"layers_per_block"`
	ActFn            string   `json:"act_fn"`
	LatentChannels   int      `json:"latent_channels"`
	NormNumGroups    int      `json:"norm_num_groups"`
	SampleSize       IntList  `json:"sample_size"`
	// ScalingFactor multiplies latents after encoding (0.13025 for SDXL, 0.18215 SD1).
	ScalingFactor float64 `json:"scaling_factor"`
	ForceUpcast   bool    `json:"force_upcast"`

	Extra map[string]json.RawMessage `json:"-"`
}

// DefaultVAEConfig returns AutoencoderKL's constructor defaults (diffusers v0.21.4).
func DefaultVAEConfig() VAEConfig {
	return VAEConfig{
		ClassName:        "AutoencoderKL",
		InChannels:       3,
		OutChannels:      3,
		DownBlockTypes:   []string{"DownEncoderBlock2D"},
		UpBlockTypes:     []string{"UpDecoderBlock2D"},
		BlockOutChannels: []int{64},
		LayersPerBlock:   1,
		ActFn:            "silu",
		LatentChannels:   4,
		NormNumGroups:    32,
		SampleSize:       IntList{32},
		ScalingFactor:    0.18215,
		ForceUpcast:      true,
	}
}

// ReadVAEConfig reads a VAE config.json.
func ReadVAEConfig(path string) (*VAEConfig, error) {
	c := DefaultVAEConfig()
	extra, err := readJSONFile(path, &c)
	if err != nil {
		return nil, err
	}
	c.Extra = extra
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("diffusers: %s: %w", path, err)
	}
	return &c, nil
}

// Validate checks block lists and sizes.
func (c *VAEConfig) Validate() error {
	n := len(c.BlockOutChannels)
	if n == 0 || len(c.DownBlockTypes) != n || len(c.UpBlockTypes) != n {
		return fmt.Errorf("block_out_channels (%d), down_block_types (%d) and up_block_types (%d) must have the same non-zero length",
			n, len(c.DownBlockTypes), len(c.UpBlockTypes))
	}
	for i, ch := range c.BlockOutChannels {
		if ch <= 0 || c.NormNumGroups <= 0 || ch%c.NormNumGroups != 0 {
			return fmt.Errorf("block_out_channels[%d] = %d is not a positive multiple of norm_num_groups %d", i, ch, c.NormNumGroups)
		}
	}
	if c.LatentChannels <= 0 || c.LayersPerBlock <= 0 || c.InChannels <= 0 || c.OutChannels <= 0 {
		return fmt.Errorf("latent_channels %d, layers_per_block %d, in_channels %d, out_channels %d must be > 0",
			c.LatentChannels, c.LayersPerBlock, c.InChannels, c.OutChannels)
	}
	if c.ScalingFactor <= 0 {
		return fmt.Errorf("scaling_factor %g must be > 0", c.ScalingFactor)
	}
	return nil
}
