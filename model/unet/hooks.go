package unet

import (
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/latexblend/latexblend/nn"
)

// Site describes the attention module a hook is called for.
type Site struct {
	// Module is the module's diffusers path, e.g.
	// "down_blocks.1.attentions.0.transformer_blocks.0.attn2".
	Module string
	// Cross is true for cross-attention (attn2), false for self-attention (attn1).
	Cross bool
	// Heads is the module's head count; each head is Channels/Heads wide.
	Heads    int
	Channels int
	// Height and Width are the latent grid of the queries (Lq = Height·Width tokens,
	// row-major).
	Height, Width int
	// Context is the encoder_hidden_states node the keys and values of a cross-attention
	// module are projected from (nil for self-attention). Hooks that rebuild keys from
	// other text rows (the LatexBlend base flow) project it themselves.
	Context *G.Node
	// KeyWeight and ValueWeight are the module's to_k / to_v parameters.
	KeyWeight, ValueWeight *nn.Param
}

// Hooks change attention while a UNet graph is built. Each hook runs once per module per
// compiled graph; values that vary between calls must reach the hook as graph inputs
// (nn.Builder.Input), and values it wants back as graph outputs (nn.Builder.Output).
type Hooks struct {
	// KV may read or replace the projected keys and values, each [Bc, Lk, Channels]
	// where Bc is the context's batch. It must return [B, Lk', Channels] with B the
	// sample's batch (so a hook may build B rows out of more context rows).
	KV func(b *nn.Builder, s Site, k, v *G.Node) (*G.Node, *G.Node, error)
	// Scores may rewrite the scaled pre-softmax scores [B, Heads, Lq, Lk].
	Scores func(b *nn.Builder, s Site, scores *G.Node) (*G.Node, error)
	// Probs may read or replace the post-softmax probabilities [B, Heads, Lq, Lk].
	Probs func(b *nn.Builder, s Site, probs *G.Node) (*G.Node, error)
	// Unfused selects the modules whose Scores and Probs hooks run: they take the
	// score → softmax → apply path, which holds the [Lq, Lk] matrices of every head.
	// Other modules use the fused kernel. Nil selects every module when Scores or
	// Probs is set.
	Unfused func(s Site) bool
	// Finish runs after the whole UNet is built, with its output [B, out, H, W]; it may
	// set a loss (nn.Builder.Loss) from nodes the other hooks kept.
	Finish func(b *nn.Builder, out *G.Node) error
}

func (h Hooks) unfused(s Site) bool {
	if h.Scores == nil && h.Probs == nil {
		return false
	}
	return h.Unfused == nil || h.Unfused(s)
}

// Processor customises one forward call. Forward compiles one graph per distinct Key
// (and input shapes) and reuses it for later calls with the same key, so the graph the
// Hooks build must depend only on Key and the shapes; per-call values come from
// Inputs. Processors are passed per call and never stored in the model, so
// concurrent calls with different processors do not interfere.
type Processor interface {
	// Key identifies the graph structure the hooks build.
	Key() string
	// Hooks is called once per graph build, so the hooks it returns may keep state
	// local to that build (e.g. the probability nodes a Finish hook turns into a loss).
	Hooks() Hooks
	// Inputs returns the extra named graph inputs the hooks read, for this call's
	// UNet inputs (so they can be sized to its batch and token count).
	Inputs(call Inputs) (map[string]*tensor.Dense, error)
}
