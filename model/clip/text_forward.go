package clip

import (
	"fmt"

	G "gorgonia.org/gorgonia"

	"github.com/latexblend/latexblend/nn"
)

// TextOutputs are the nodes of one text-model forward pass.
type TextOutputs struct {
	// HiddenStates are transformers' output_hidden_states: [0] is the embeddings
	// (token + position), [k] the output of encoder layer k, each [B, L, D] and before
	// the final layer norm. SDXL conditions on HiddenStates[len-2], the penultimate.
	HiddenStates []*G.Node
	// LastHiddenState is final_layer_norm(last hidden state), [B, L, D]; nil when the
	// pass stopped before the last layer.
	LastHiddenState *G.Node
	// Pooled is LastHiddenState at each row's pooled position, [B, D]; nil without a
	// pool selector.
	Pooled *G.Node
	// TextEmbeds is Pooled·text_projectionᵀ, [B, P], for CLIPTextModelWithProjection;
	// nil otherwise.
	TextEmbeds *G.Node
}

// ForwardOptions choose how much of the model a forward pass builds.
type ForwardOptions struct {
	// Layers is how many encoder layers to run; 0 runs all of them. Stopping early
	// (SDXL's encoder 1 needs only the penultimate state) skips the final layer norm and
	// pooling.
	Layers int
	// PoolSelect is a [B, 1, 1, L] one-hot row per sequence choosing its pooled position
	// (PoolSelectTensor builds it from the ids); nil skips pooling and projection.
	PoolSelect *G.Node
}

// Forward adds the model to b's graph for ids [B, L] (token ids as whole numbers in the
// graph's float type, L at most max_position_embeddings) and returns its nodes.
// Attention is causal and unmasked otherwise, as in the SDXL pipelines (padding tokens
// are attended like any other). The builder's attention hooks see each layer's
// self-attention under "<prefix>.text_model.encoder.layers.N.self_attn".
func (m *TextModel) Forward(b *nn.Builder, ids *G.Node, opts ForwardOptions) (*TextOutputs, error) {
	s := ids.Shape()
	if len(s) != 2 || s[1] < 1 || s[1] > m.MaxLength() {
		return nil, fmt.Errorf("clip: text model %q: ids %v must be [batch, length] with length in 1..%d", m.Prefix, s, m.MaxLength())
	}
	bs, l := s[0], s[1]
	layers := opts.Layers
	if layers == 0 {
		layers = len(m.Layers)
	}
	if layers < 0 || layers > len(m.Layers) {
		return nil, fmt.Errorf("clip: text model %q: %d layers requested, it has %d", m.Prefix, layers, len(m.Layers))
	}
	tok, err := m.TokenEmbedding.Forward(b, ids)
	if err != nil {
		return nil, fmt.Errorf("clip: %s: %w", m.TokenEmbedding.Name, err)
	}
	pos, err := m.PositionEmbedding.Forward(b, m.positionIDs(b, bs, l))
	if err != nil {
		return nil, fmt.Errorf("clip: %s: %w", m.PositionEmbedding.Name, err)
	}
	h, err := G.Add(tok, pos)
	if err != nil {
		return nil, fmt.Errorf("clip: text model %q: embeddings: %w", m.Prefix, err)
	}
	out := &TextOutputs{HiddenStates: []*G.Node{h}}
	for _, layer := range m.Layers[:layers] {
		if h, err = layer.Forward(b, h); err != nil {
			return nil, err
		}
		out.HiddenStates = append(out.HiddenStates, h)
	}
	if layers < len(m.Layers) {
		return out, nil
	}
	if out.LastHiddenState, err = m.FinalNorm.Forward(b, h); err != nil {
		return nil, fmt.Errorf("clip: %s: %w", m.FinalNorm.Name, err)
	}
	if opts.PoolSelect == nil {
		return out, nil
	}
	if out.Pooled, err = m.pool(b, out.LastHiddenState, opts.PoolSelect); err != nil {
		return nil, err
	}
	if m.Projection != nil {
		if out.TextEmbeds, err = m.Projection.Forward(b, out.Pooled); err != nil {
			return nil, fmt.Errorf("clip: %s: %w", m.Projection.Name, err)
		}
	}
	return out, nil
}

// positionIDs is a constant [B, L] node holding 0..L-1 in every row, so that the
// position table goes through the same lookup op as the tokens.
func (m *TextModel) positionIDs(b *nn.Builder, bs, l int) *G.Node {
	vals := make([]int, bs*l)
	for i := range vals {
		vals[i] = i % l
	}
	t := denseOf(b.Dtype(), vals, bs, l)
	return G.NewTensor(b.Graph(), b.Dtype(), 2, G.WithShape(bs, l), G.WithValue(t),
		G.WithName(nn.Join(m.Prefix, "text_model.embeddings.position_ids")))
}

// pool picks one position per row of last [B, L, D] with the one-hot sel [B, 1, 1, L].
// The pick is a one-head attention "apply" (sel·last), which gives the gradient to
// exactly the chosen rows; the position itself comes from the ids on the host because
// it is data, not shape.
func (m *TextModel) pool(b *nn.Builder, last, sel *G.Node) (*G.Node, error) {
	ls, ss := last.Shape(), sel.Shape()
	if len(ss) != 4 || ss[0] != ls[0] || ss[1] != 1 || ss[2] != 1 || ss[3] != ls[1] {
		return nil, fmt.Errorf("clip: text model %q: pool selector %v must be [%d, 1, 1, %d]", m.Prefix, ss, ls[0], ls[1])
	}
	picked, err := b.AttentionApply(sel, last)
	if err != nil {
		return nil, fmt.Errorf("clip: text model %q: pooling: %w", m.Prefix, err)
	}
	pooled, err := b.Reshape(picked, ls[0], ls[2])
	if err != nil {
		return nil, fmt.Errorf("clip: text model %q: pooling: %w", m.Prefix, err)
	}
	return pooled, nil
}

// Forward adds one pre-LN encoder layer to the graph: x [B, L, D] → [B, L, D].
func (l *TextLayer) Forward(b *nn.Builder, x *G.Node) (*G.Node, error) {
	wrap := func(err error) error { return fmt.Errorf("clip: %s: %w", l.Name, err) }
	h, err := l.Norm1.Forward(b, x)
	if err != nil {
		return nil, wrap(err)
	}
	if h, err = l.Attention.Forward(b, h, nil, true); err != nil {
		return nil, wrap(err)
	}
	if x, err = G.Add(x, h); err != nil {
		return nil, wrap(err)
	}
	if h, err = l.Norm2.Forward(b, x); err != nil {
		return nil, wrap(err)
	}
	if h, err = l.FC1.Forward(b, h); err != nil {
		return nil, wrap(err)
	}
	if h, err = b.Activation(l.Activation, h); err != nil {
		return nil, wrap(err)
	}
	if h, err = l.FC2.Forward(b, h); err != nil {
		return nil, wrap(err)
	}
	if x, err = G.Add(x, h); err != nil {
		return nil, wrap(err)
	}
	return x, nil
}
