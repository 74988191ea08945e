package sdxl

import (
	"fmt"

	G "gorgonia.org/gorgonia"

	"github.com/latexblend/latexblend/model/clip"
	"github.com/latexblend/latexblend/nn"
)

// PromptForward adds SDXL's text conditioning to a graph being built — for training,
// where gradients must reach the token embeddings (e.g. the <new1> rows): ids1 and ids2
// are [B, L] token ids for te1 and te2 (clip.IDsTensor), sel2 is te2's pool selector
// [B, 1, 1, L] (clip.PoolSelectTensor of ids2). It returns ctx [B, L, D1+D2], the
// penultimate hidden states joined on the feature axis, and pooled [B, P], te2's
// text_embeds. te1 runs only up to its penultimate layer, which is all SDXL reads.
func PromptForward(b *nn.Builder, te1, te2 *clip.TextModel, ids1, ids2, sel2 *G.Node) (ctx, pooled *G.Node, err error) {
	if !te2.HasProjection() {
		return nil, nil, fmt.Errorf("sdxl: text encoder 2 %q has no text_projection", te2.Prefix)
	}
	if te1.Prefix == te2.Prefix {
		// Same-named parameters would become one gorgonia node.
		return nil, nil, fmt.Errorf("sdxl: both text encoders use the parameter prefix %q; one graph needs distinct prefixes", te1.Prefix)
	}
	if len(te1.Layers) < 2 {
		return nil, nil, fmt.Errorf("sdxl: text encoder 1 %q has %d layers; the penultimate state needs 2", te1.Prefix, len(te1.Layers))
	}
	o1, err := te1.Forward(b, ids1, clip.ForwardOptions{Layers: len(te1.Layers) - 1})
	if err != nil {
		return nil, nil, err
	}
	o2, err := te2.Forward(b, ids2, clip.ForwardOptions{PoolSelect: sel2})
	if err != nil {
		return nil, nil, err
	}
	h1 := o1.HiddenStates[len(o1.HiddenStates)-1]
	h2 := o2.HiddenStates[len(o2.HiddenStates)-2]
	if ctx, err = G.Concat(2, h1, h2); err != nil {
		return nil, nil, fmt.Errorf("sdxl: joining the encoders' states %v and %v: %w", h1.Shape(), h2.Shape(), err)
	}
	return ctx, o2.TextEmbeds, nil
}
