package unet

import (
	"fmt"
	"path/filepath"
	"sync"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/latexblend/latexblend/model/diffusers"
	"github.com/latexblend/latexblend/nn"
)

// Model is a UNet2DConditionModel: its parameters (under diffusers' keys) and the
// module tree that builds its graph. It is safe for concurrent use.
type Model struct {
	cfg    diffusers.UNetConfig
	plan   *arch
	params *nn.Params
	net    *network

	mu    sync.Mutex
	progs map[string]*programEntry
}

// network is the module tree; the same constructor serves Specs (no storage) and New.
type network struct {
	convIn          *nn.Conv2d
	timeEmb, addEmb *timestepEmbedding // addEmb nil without text_time
	down            []*block
	mid             *block
	up              []*block
	normOut         *nn.GroupNorm
	convOut         *nn.Conv2d
}

func newNetwork(r *registry, a *arch) *network {
	c0 := a.down[0].channels
	n := &network{
		convIn:  r.conv("conv_in", a.inCh, c0, a.convInK, nn.Conv2dOptions{Pad: a.convInK / 2}),
		timeEmb: newTimestepEmbedding(r, "time_embedding", a.timeInDim, a.timeDim),
	}
	if a.addTimeDim > 0 {
		n.addEmb = newTimestepEmbedding(r, "add_embedding", a.addInDim, a.timeDim)
	}
	for _, ba := range a.down {
		n.down = append(n.down, newBlock(r, ba, a))
	}
	if a.mid != nil {
		n.mid = newBlock(r, *a.mid, a)
	}
	for _, ba := range a.up {
		n.up = append(n.up, newBlock(r, ba, a))
	}
	n.normOut = r.groupNorm("conv_norm_out", a.groups, c0, a.eps)
	n.convOut = r.conv("conv_out", c0, a.outCh, a.convOutK, nn.Conv2dOptions{Pad: a.convOutK / 2})
	return n
}

// Specs lists the parameter names and shapes of the UNet a config describes, in
// construction order, without allocating any of them.
func Specs(cfg *diffusers.UNetConfig) ([]diffusers.ParamSpec, error) {
	a, err := planOf(cfg)
	if err != nil {
		return nil, err
	}
	r := &registry{}
	newNetwork(r, a)
	return r.specs, nil
}

// New allocates a zero-initialised UNet for cfg with parameters of the given dtype
// (tensor.Float32 for use, tensor.Float64 for gradient checks).
func New(cfg *diffusers.UNetConfig, dtype tensor.Dtype) (*Model, error) {
	a, err := planOf(cfg)
	if err != nil {
		return nil, err
	}
	ps := nn.NewParams(dtype)
	net := newNetwork(&registry{ps: ps}, a)
	if err := ps.Err(); err != nil {
		return nil, fmt.Errorf("unet: %w", err)
	}
	return &Model{cfg: *cfg, plan: a, params: ps, net: net, progs: map[string]*programEntry{}}, nil
}

// Open reads <dir>/unet/config.json and the UNet weights of a diffusers folder into a
// float32 model. variant selects e.g. "fp16" files ("" for the plain ones).
func Open(dir, variant string) (*Model, error) {
	cfg, err := diffusers.ReadUNetConfigIn(dir)
	if err != nil {
		return nil, err
	}
	m, err := New(cfg, tensor.Float32)
	if err != nil {
		return nil, err
	}
	w, err := diffusers.OpenWeights(filepath.Join(dir, "unet"), variant)
	if err != nil {
		return nil, err
	}
	defer w.Close()
	if err := m.Load(w); err != nil {
		return nil, err
	}
	return m, nil
}

// Config returns the model's config.
func (m *Model) Config() diffusers.UNetConfig { return m.cfg }

// Params is the parameter store (diffusers keys). Training marks attn2 to_k/to_v
// trainable with SetTrainable; optimisers update values in place.
func (m *Model) Params() *nn.Params { return m.params }

// Load copies every UNet tensor of src into the model after checking that names and
// shapes match exactly (one error lists every mismatch); F16/BF16 are widened.
func (m *Model) Load(src diffusers.Float32Source) error {
	names := m.params.Names()
	if m.params.Dtype() == tensor.Float32 {
		targets := make([]diffusers.Target, len(names))
		for i, name := range names {
			p := m.params.Get(name)
			targets[i] = diffusers.Target{ParamSpec: diffusers.ParamSpec{Name: name, Shape: []int(p.Shape())}, Data: p.Value.Data().([]float32)}
		}
		return diffusers.Load(src, targets, diffusers.CheckOptions{})
	}
	specs := make([]diffusers.ParamSpec, len(names))
	for i, name := range names {
		specs[i] = diffusers.ParamSpec{Name: name, Shape: []int(m.params.Get(name).Shape())}
	}
	if err := diffusers.Check(src, specs, diffusers.CheckOptions{}); err != nil {
		return err
	}
	ts := make(map[string]nn.Tensor, len(names))
	for _, s := range specs {
		buf := make([]float32, s.NumElements())
		if err := src.Float32Into(s.Name, buf); err != nil {
			return fmt.Errorf("unet: loading %q: %w", s.Name, err)
		}
		ts[s.Name] = nn.Tensor{Shape: s.Shape, Data: buf}
	}
	return m.params.Load(ts, nn.LoadOptions{})
}

// CrossAttentionModules lists the diffusers paths of every attn2 module in graph order.
func (m *Model) CrossAttentionModules() []string {
	var out []string
	visit := func(blk *block) {
		for _, t := range blk.attns {
			for _, bb := range t.blocks {
				out = append(out, bb.attn2.name)
			}
		}
	}
	for _, blk := range m.net.down {
		visit(blk)
	}
	if m.net.mid != nil {
		visit(m.net.mid)
	}
	for _, blk := range m.net.up {
		visit(blk)
	}
	return out
}

// Names of the graph inputs InputNodes reads (and GraphInputs fills).
const (
	InputSample      = "sample"                // [B, in_channels, H, W]
	InputTimeProj    = "timestep_proj"         // [B, block_out_channels[0]]: Sinusoid of the timesteps
	InputContext     = "encoder_hidden_states" // [Bc, L, cross_attention_dim]
	InputTextEmbeds  = "text_embeds"           // [B, pooled] (text_time only)
	InputTimeIDsProj = "time_ids_proj"         // [B, n·addition_time_embed_dim] (text_time only)
	// OutputSample names the model output among a graph's outputs.
	OutputSample = "out"
)

// Nodes are the UNet's graph inputs. TextEmbeds and TimeIDsProj are used only with
// the text_time added embedding.
type Nodes struct {
	Sample, TimeProj, Context, TextEmbeds, TimeIDsProj *G.Node
}

// GradOptions choose the inputs whose gradients a run returns.
type GradOptions struct {
	Sample, Context, TextEmbeds bool
}

// InputNodes takes the standard named inputs from b, asking for gradients where grad
// says so (latents for guidance, text embeddings for token training).
func (m *Model) InputNodes(b *nn.Builder, grad GradOptions) (Nodes, error) {
	get := func(name string, withGrad bool) (*G.Node, error) {
		if withGrad {
			return b.InputWithGrad(name)
		}
		return b.Input(name)
	}
	var n Nodes
	var err error
	if n.Sample, err = get(InputSample, grad.Sample); err != nil {
		return n, err
	}
	if n.TimeProj, err = get(InputTimeProj, false); err != nil {
		return n, err
	}
	if n.Context, err = get(InputContext, grad.Context); err != nil {
		return n, err
	}
	if m.plan.addTimeDim > 0 {
		if n.TextEmbeds, err = get(InputTextEmbeds, grad.TextEmbeds); err != nil {
			return n, err
		}
		if n.TimeIDsProj, err = get(InputTimeIDsProj, false); err != nil {
			return n, err
		}
	}
	return n, nil
}

// NodesFor takes the sample and time inputs from b (no gradients) and pairs them with
// conditioning a trainer computes in the same graph (its text encoders' context and
// pooled embedding) instead of reading it as an input.
func (m *Model) NodesFor(b *nn.Builder, context, textEmbeds *G.Node) (Nodes, error) {
	n := Nodes{Context: context, TextEmbeds: textEmbeds}
	var err error
	if n.Sample, err = b.Input(InputSample); err != nil {
		return n, err
	}
	if n.TimeProj, err = b.Input(InputTimeProj); err != nil {
		return n, err
	}
	if m.plan.addTimeDim > 0 {
		if n.TimeIDsProj, err = b.Input(InputTimeIDsProj); err != nil {
			return n, err
		}
	}
	return n, nil
}

// BuildOptions tune one graph build.
type BuildOptions struct {
	Hooks Hooks
	// Capture names the per-block activations as outputs "act.conv_in",
	// "act.time_embedding", "act.add_embedding", "act.down_blocks.i",
	// "act.down_blocks.i.res_j", "act.mid_block", "act.up_blocks.i", "act.conv_out"
	// (diffusers forward-hook outputs).
	Capture bool
}

// Build adds the UNet to b and returns its output [B, out_channels, H, W]. Trainers
// call it from their own nn.BuildFunc (adding a loss); Forward wraps it for inference.
func (m *Model) Build(b *nn.Builder, in Nodes, opts BuildOptions) (*G.Node, error) {
	out, err := m.build(b, in, opts)
	if err != nil {
		return nil, fmt.Errorf("unet: %w", err)
	}
	return out, nil
}

func (m *Model) build(b *nn.Builder, in Nodes, opts BuildOptions) (*G.Node, error) {
	net := m.net
	g := &graphState{b: b, ctx: in.Context, hooks: opts.Hooks, capture: opts.Capture}
	emb, err := net.timeEmb.forward(b, in.TimeProj)
	if err != nil {
		return nil, err
	}
	g.keep("time_embedding", emb)
	if net.addEmb != nil {
		if in.TextEmbeds == nil || in.TimeIDsProj == nil {
			return nil, fmt.Errorf("the text_time added embedding needs text_embeds and time ids")
		}
		cat, err := G.Concat(1, in.TextEmbeds, in.TimeIDsProj)
		if err != nil {
			return nil, fmt.Errorf("add_embedding input: %w", err)
		}
		aug, err := net.addEmb.forward(b, cat)
		if err != nil {
			return nil, err
		}
		g.keep("add_embedding", aug)
		if emb, err = G.Add(emb, aug); err != nil {
			return nil, err
		}
	}
	if g.embAct, err = b.SiLU(emb); err != nil {
		return nil, err
	}
	x, err := net.convIn.Forward(b, in.Sample)
	if err != nil {
		return nil, fmt.Errorf("conv_in: %w", err)
	}
	g.keep("conv_in", x)
	skips := []*G.Node{x}
	for _, blk := range net.down {
		var s []*G.Node
		if x, s, err = blk.forwardDown(g, x); err != nil {
			return nil, err
		}
		skips = append(skips, s...)
	}
	if net.mid != nil {
		if x, err = net.mid.forwardMid(g, x); err != nil {
			return nil, err
		}
	}
	for _, blk := range net.up {
		if x, skips, err = blk.forwardUp(g, x, skips); err != nil {
			return nil, err
		}
	}
	if x, err = net.normOut.Forward(b, x); err == nil {
		if x, err = b.SiLU(x); err == nil {
			x, err = net.convOut.Forward(b, x)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("conv_out: %w", err)
	}
	g.keep("conv_out", x)
	if opts.Hooks.Finish != nil {
		if err := opts.Hooks.Finish(b, x); err != nil {
			return nil, fmt.Errorf("finish hook: %w", err)
		}
	}
	return x, nil
}
