package vae

import (
	"encoding/json"
	"fmt"

	"github.com/latexblend/latexblend/model/diffusers"
)

// structure is what the network's shape depends on, checked and resolved from a config.
type structure struct {
	inChannels, outChannels, latentChannels int
	channels                                []int // block_out_channels
	layers                                  int   // layers_per_block
	groups                                  int
	act                                     string
	midAttention                            bool
	quantConv, postQuantConv                bool
}

// supportedActs are the act_fn values nn implements (diffusers also knows mish and relu,
// which no released AutoencoderKL uses).
var supportedActs = map[string]bool{"silu": true, "swish": true, "gelu": true}

func newStructure(cfg *diffusers.VAEConfig) (*structure, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("vae: config: %w", err)
	}
	for i, t := range cfg.DownBlockTypes {
		if t != "DownEncoderBlock2D" {
			return nil, fmt.Errorf("vae: config: down_block_types[%d] = %q, only DownEncoderBlock2D is supported", i, t)
		}
	}
	for i, t := range cfg.UpBlockTypes {
		if t != "UpDecoderBlock2D" {
			return nil, fmt.Errorf("vae: config: up_block_types[%d] = %q, only UpDecoderBlock2D is supported", i, t)
		}
	}
	if !supportedActs[cfg.ActFn] {
		return nil, fmt.Errorf("vae: config: act_fn %q is not supported (silu, swish or gelu)", cfg.ActFn)
	}
	s := &structure{
		inChannels:     cfg.InChannels,
		outChannels:    cfg.OutChannels,
		latentChannels: cfg.LatentChannels,
		channels:       append([]int(nil), cfg.BlockOutChannels...),
		layers:         cfg.LayersPerBlock,
		groups:         cfg.NormNumGroups,
		act:            cfg.ActFn,
	}
	// Keys newer diffusers versions added; absent means true, as there.
	var err error
	if s.midAttention, err = extraBool(cfg, "mid_block_add_attention"); err != nil {
		return nil, err
	}
	if s.quantConv, err = extraBool(cfg, "use_quant_conv"); err != nil {
		return nil, err
	}
	if s.postQuantConv, err = extraBool(cfg, "use_post_quant_conv"); err != nil {
		return nil, err
	}
	return s, nil
}

// extraBool reads an optional boolean config key that VAEConfig keeps in Extra; absent
// or null means true.
func extraBool(cfg *diffusers.VAEConfig, key string) (bool, error) {
	raw, ok := cfg.Extra[key]
	if !ok || string(raw) == "null" {
		return true, nil
	}
	var v bool
	if err := json.Unmarshal(raw, &v); err != nil {
		return false, fmt.Errorf("vae: config: field %q: %s is not a boolean", key, raw)
	}
	return v, nil
}

// downFactor is the ratio of image to latent size: every block but the last halves.
func (s *structure) downFactor() int { return 1 << (len(s.channels) - 1) }
