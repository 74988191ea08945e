package diffusers

import (
	"encoding/json"
	"fmt"
)

// CLIPTextConfig is text_encoder/config.json (CLIPTextModel) or
// text_encoder_2/config.json (CLIPTextModelWithProjection), transformers layout.
type CLIPTextConfig struct {
	Architectures         []string `json:"architectures"`
	ModelType             string   `json:"model_type"`
	VocabSize             int      `json:"vocab_size"`
	HiddenSize            int      `json:"hidden_size"`
	IntermediateSize      int      `json:"intermediate_size"`
	ProjectionDim         int      `json:"projection_dim"`
	NumHiddenLayers       int      `json:"num_hidden_layers"`
	NumAttentionHeads     int      `json:"num_attention_heads"`
	MaxPositionEmbeddings int      `json:"max_position_embeddings"`
	// HiddenAct is "quick_gelu" (CLIP-L) or "gelu" (exact erf; OpenCLIP bigG).
	HiddenAct           string  `json:"hidden_act"`
	LayerNormEps        float64 `json:"layer_norm_eps"`
	AttentionDropout    float64 `json:"attention_dropout"`
	InitializerRange    float64 `json:"initializer_range"`
	InitializerFactor   float64 `json:"initializer_factor"`
	PadTokenID          int     `json:"pad_token_id"`
	BOSTokenID          int     `json:"bos_token_id"`
	EOSTokenID          int     `json:"eos_token_id"`
	TorchDType          string  `json:"torch_dtype"`
	TransformersVersion string  `json:"transformers_version"`

	Extra map[string]json.RawMessage `json:"-"`
}

// DefaultCLIPTextConfig returns CLIPTextConfig's defaults (transformers v4.30.2).
func DefaultCLIPTextConfig() CLIPTextConfig {
	return CLIPTextConfig{
		ModelType:             "clip_text_model",
		VocabSize:             49408,
		HiddenSize:            512,
		IntermediateSize:      2048,
		ProjectionDim:         512,
		NumHiddenLayers:       12,
		NumAttentionHeads:     8,
		MaxPositionEmbeddings: 77,
		HiddenAct:             "quick_gelu",
		LayerNormEps:          1e-5,
		InitializerRange:      0.02,
		InitializerFactor:     1,
		PadTokenID:            1,
		BOSTokenID:            0,
		EOSTokenID:            2,
	}
}

// ReadCLIPTextConfig reads a CLIP text-encoder config.json. A full CLIPConfig
// (model_type "clip" with a nested "text_config") is accepted too: its text_config is
// decoded over the defaults.
func ReadCLIPTextConfig(path string) (*CLIPTextConfig, error) {
	c := DefaultCLIPTextConfig()
	extra, err := readJSONFile(path, &c)
	if err != nil {
		return nil, err
	}
	if tc, ok := extra["text_config"]; ok && c.ModelType == "clip" {
		c = DefaultCLIPTextConfig()
		if extra, err = decodeJSON(tc, &c); err != nil {
			return nil, fmt.Errorf("diffusers: %s: text_config: %w", path, err)
		}
	}
	c.Extra = extra
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("diffusers: %s: %w", path, err)
	}
	return &c, nil
}

// WithProjection reports whether the config is for CLIPTextModelWithProjection
// (which has text_projection.weight).
func (c *CLIPTextConfig) WithProjection() bool {
	for _, a := range c.Architectures {
		if a == "CLIPTextModelWithProjection" {
			return true
		}
	}
	return false
}

// Validate checks sizes and the activation name.
func (c *CLIPTextConfig) Validate() error {
	for _, f := range []struct {
		name string
		v    int
	}{
		{"vocab_size", c.VocabSize}, {"hidden_size", c.HiddenSize}, {"intermediate_size", c.IntermediateSize},
		{"num_hidden_layers", c.NumHiddenLayers}, {"num_attention_heads", c.NumAttentionHeads},
		{"max_position_embeddings", c.MaxPositionEmbeddings},
	} {
		if f.v <= 0 {
			return fmt.Errorf("%s = %d, want > 0", f.name, f.v)
		}
	}
	if c.HiddenSize%c.NumAttentionHeads != 0 {
		return fmt.Errorf("hidden_size %d is not divisible by num_attention_heads %d", c.HiddenSize, c.NumAttentionHeads)
	}
	switch c.HiddenAct {
	case "quick_gelu", "gelu":
	default:
		return fmt.Errorf("hidden_act %q is not supported (quick_gelu, gelu)", c.HiddenAct)
	}
	if c.WithProjection() && c.ProjectionDim <= 0 {
		return fmt.Errorf("projection_dim = %d, want > 0 for CLIPTextModelWithProjection", c.ProjectionDim)
	}
	return nil
}
