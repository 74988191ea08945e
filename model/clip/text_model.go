package clip

import (
	"fmt"
	"strings"

	"github.com/latexblend/latexblend/model/diffusers"
	"github.com/latexblend/latexblend/nn"
)

// Checkpoint key stems of transformers' CLIP text models. Every parameter name of a
// TextModel is prefix + one of these paths, so names are the model.safetensors keys.
const (
	textModelPrefix    = "text_model"
	tokenEmbeddingName = "text_model.embeddings.token_embedding"
	positionEmbedName  = "text_model.embeddings.position_embedding"
	finalNormName      = "text_model.final_layer_norm"
	textProjectionName = "text_projection"
)

// TextModel is a CLIP text transformer: transformers' CLIPTextModel, or
// CLIPTextModelWithProjection when the config's architectures say so (SDXL's
// text_encoder_2). Its parameters live in an nn.Params store under the checkpoint keys
// (text_model.embeddings.token_embedding.weight, …, text_projection.weight), optionally
// behind a prefix so that several models can share one store.
//
// A TextModel only describes the network; Forward adds it to a graph that an
// nn.Program runs. TextEncoder wraps one with its own store and program for plain
// inference.
type TextModel struct {
	Config diffusers.CLIPTextConfig
	// Prefix is prepended (with a dot) to every parameter name; "" for a store holding
	// one model.
	Prefix string

	TokenEmbedding    *nn.Embedding
	PositionEmbedding *nn.Embedding
	Layers            []*TextLayer
	FinalNorm         *nn.LayerNorm
	// Projection is text_projection (no bias); nil for CLIPTextModel.
	Projection *nn.Linear

	params *nn.Params
	// names are the store names of the model's parameters, in registration order.
	names []string
	// added lists the token-embedding rows appended after the checkpoint's
	// vocab_size rows (see AddTokenRows).
	added []int
}

// TextLayer is one pre-LN encoder layer (CLIPEncoderLayer):
// h += out_proj(causal MHA(layer_norm1 h)); h += fc2(act(fc1(layer_norm2 h))).
type TextLayer struct {
	Name       string
	Norm1      *nn.LayerNorm
	Attention  *nn.Attention
	Norm2      *nn.LayerNorm
	FC1, FC2   *nn.Linear
	Activation string // "gelu" or "quick_gelu"
}

// NewTextModel registers a CLIP text model's parameters (zero-filled) in ps under
// prefix and returns it. The config is validated first; a registration problem (a name
// already in the store) is returned as an error too.
func NewTextModel(ps *nn.Params, prefix string, cfg diffusers.CLIPTextConfig) (*TextModel, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("clip: text model config: %w", err)
	}
	d, heads := cfg.HiddenSize, cfg.NumAttentionHeads
	first := ps.Len()
	m := &TextModel{
		Config:            cfg,
		Prefix:            prefix,
		params:            ps,
		TokenEmbedding:    nn.NewEmbedding(ps, nn.Join(prefix, tokenEmbeddingName), cfg.VocabSize, d),
		PositionEmbedding: nn.NewEmbedding(ps, nn.Join(prefix, positionEmbedName), cfg.MaxPositionEmbeddings, d),
	}
	for i := 0; i < cfg.NumHiddenLayers; i++ {
		name := nn.Join(prefix, textModelPrefix, fmt.Sprintf("encoder.layers.%d", i))
		m.Layers = append(m.Layers, &TextLayer{
			Name:  name,
			Norm1: nn.NewLayerNorm(ps, nn.Join(name, "layer_norm1"), d, cfg.LayerNormEps),
			Attention: nn.NewAttention(ps, nn.Join(name, "self_attn"), nn.AttentionConfig{
				QueryDim: d, Heads: heads, HeadDim: d / heads,
				QKVBias: true, OutBias: true, Names: nn.CLIPAttentionNames,
			}),
			Norm2:      nn.NewLayerNorm(ps, nn.Join(name, "layer_norm2"), d, cfg.LayerNormEps),
			FC1:        nn.NewLinear(ps, nn.Join(name, "mlp.fc1"), d, cfg.IntermediateSize, true),
			FC2:        nn.NewLinear(ps, nn.Join(name, "mlp.fc2"), cfg.IntermediateSize, d, true),
			Activation: cfg.HiddenAct,
		})
	}
	m.FinalNorm = nn.NewLayerNorm(ps, nn.Join(prefix, finalNormName), d, cfg.LayerNormEps)
	if cfg.WithProjection() {
		m.Projection = nn.NewLinear(ps, nn.Join(prefix, textProjectionName), d, cfg.ProjectionDim, false)
	}
	if err := ps.Err(); err != nil {
		return nil, fmt.Errorf("clip: text model %q: %w", prefix, err)
	}
	m.names = ps.Names()[first:]
	return m, nil
}

// Params is the store holding the model's parameters.
func (m *TextModel) Params() *nn.Params { return m.params }

// HiddenSize is the width D of every hidden state.
func (m *TextModel) HiddenSize() int { return m.Config.HiddenSize }

// MaxLength is the longest id sequence the position table covers (77).
func (m *TextModel) MaxLength() int { return m.Config.MaxPositionEmbeddings }

// NumTokens is the number of token-embedding rows: the config's vocab_size plus any
// added rows.
func (m *TextModel) NumTokens() int { return m.TokenEmbedding.Weight.Value.Shape()[0] }

// HasProjection reports whether the model is CLIPTextModelWithProjection.
func (m *TextModel) HasProjection() bool { return m.Projection != nil }

// ParamNames lists the model's parameter names without its prefix, i.e. the checkpoint
// keys, in registration order.
func (m *TextModel) ParamNames() []string {
	keys := make([]string, len(m.names))
	for i, full := range m.names {
		keys[i] = m.checkpointKey(full)
	}
	return keys
}

// checkpointKey strips the model's prefix from one of its parameter names.
func (m *TextModel) checkpointKey(full string) string {
	if m.Prefix == "" {
		return full
	}
	return strings.TrimPrefix(full, m.Prefix+".")
}
