package nn

import (
	"fmt"
	"sort"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Hooks let model code change attention inside a graph while it is being built. A hook
// runs once per attention module per build (graphs are reused across runs), so anything
// that varies per run must come in through Builder.Input. module is the attention
// module's dotted path, e.g. "down_blocks.1.attentions.0.transformer_blocks.0.attn2".
type Hooks struct {
	// KV may replace the projected keys and values ([B, Lk, heads·d] each), e.g. to
	// swap in rows from another prompt or detach positions from the gradient.
	KV func(b *Builder, module string, k, v *G.Node) (*G.Node, *G.Node, error)
	// Scores may rewrite the scaled pre-softmax scores [B, heads, Lq, Lk]. Setting it
	// switches Attention from the fused kernel to the unfused score → softmax → apply path.
	Scores func(b *Builder, module string, scores *G.Node) (*G.Node, error)
	// Probs sees (and may replace) the attention probabilities [B, heads, Lq, Lk]; it
	// also selects the unfused path.
	Probs func(b *Builder, module string, probs *G.Node) (*G.Node, error)
}

// Builder builds one graph: it turns parameters and named inputs into nodes, offers our
// ops, and records the outputs and the loss that a Program reads after each run.
type Builder struct {
	g          *G.ExprGraph
	params     *Params
	hooks      Hooks
	paramNodes map[*Param]*G.Node
	paramOrder []*Param
	inputs     map[string]*tensor.Dense
	inputNodes map[string]*G.Node
	gradInputs []string
	leafGrad   map[*G.Node]bool
	needsGrad  map[*G.Node]bool
	outputs    map[string]*G.Node
	loss       *G.Node
}

// NewBuilder starts a graph over params. inputs supplies the shapes (and, when the graph
// is run by a Program, the values) of the named inputs the build asks for.
func NewBuilder(params *Params, inputs map[string]*tensor.Dense, hooks Hooks) *Builder {
	return &Builder{
		g:          G.NewGraph(),
		params:     params,
		hooks:      hooks,
		paramNodes: map[*Param]*G.Node{},
		inputs:     inputs,
		inputNodes: map[string]*G.Node{},
		leafGrad:   map[*G.Node]bool{},
		needsGrad:  map[*G.Node]bool{},
		outputs:    map[string]*G.Node{},
	}
}

// Graph is the underlying gorgonia graph, for gorgonia ops that need no replacement
// (Add, HadamardProd, Concat, Slice, Mean, …).
func (b *Builder) Graph() *G.ExprGraph { return b.g }

// Dtype is the element type of the graph (that of the parameter store).
func (b *Builder) Dtype() tensor.Dtype { return b.params.Dtype() }

// Params is the parameter store the graph reads.
func (b *Builder) Params() *Params { return b.params }

// Hooks returns the attention hooks of this build.
func (b *Builder) Hooks() Hooks { return b.hooks }

// Param returns the node of a parameter, creating it on first use. The node is bound to
// p.Value itself, so in-place updates of the value are seen by later runs.
func (b *Builder) Param(p *Param) *G.Node {
	if n, ok := b.paramNodes[p]; ok {
		return n
	}
	n := G.NewTensor(b.g, b.Dtype(), p.Value.Dims(), G.WithShape(p.Value.Shape().Clone()...), G.WithName(p.Name), G.WithValue(p.Value))
	b.paramNodes[p] = n
	b.paramOrder = append(b.paramOrder, p)
	b.leafGrad[n] = p.trainable
	return n
}

// Input returns the node of a named input, creating it on first use with the shape of
// the value supplied for it.
func (b *Builder) Input(name string) (*G.Node, error) {
	if n, ok := b.inputNodes[name]; ok {
		return n, nil
	}
	v, ok := b.inputs[name]
	if !ok {
		return nil, fmt.Errorf("nn: graph input %q was not supplied (have %v)", name, sortedKeys(b.inputs))
	}
	if v.Dtype() != b.Dtype() {
		return nil, fmt.Errorf("nn: graph input %q is %v, the model is %v", name, v.Dtype(), b.Dtype())
	}
	n := G.NewTensor(b.g, b.Dtype(), v.Dims(), G.WithShape(v.Shape().Clone()...), G.WithName("input:"+name), G.WithValue(v))
	b.inputNodes[name] = n
	return n, nil
}

// InputWithGrad is Input for an input whose gradient the run should return
// (Result.InputGrads), e.g. latents for guidance.
func (b *Builder) InputWithGrad(name string) (*G.Node, error) {
	n, err := b.Input(name)
	if err != nil {
		return nil, err
	}
	if !b.leafGrad[n] {
		if _, used := b.needsGrad[n]; used {
			return nil, fmt.Errorf("nn: graph input %q was used before InputWithGrad asked for its gradient", name)
		}
		b.leafGrad[n] = true
		b.gradInputs = append(b.gradInputs, name)
	}
	return n, nil
}

// Output names a node whose value each run returns.
func (b *Builder) Output(name string, n *G.Node) { b.outputs[name] = n }

// Loss sets the scalar whose gradient a run computes for every trainable parameter used
// by the graph and for the inputs taken with InputWithGrad.
func (b *Builder) Loss(n *G.Node) { b.loss = n }

// RequiresGrad reports whether a node depends on a trainable parameter or a gradient
// input. Our ops skip computing gradients for inputs that do not, so frozen weights
// cost no weight-gradient GEMMs.
func (b *Builder) RequiresGrad(n *G.Node) bool {
	if v, ok := b.needsGrad[n]; ok {
		return v
	}
	var v bool
	if n.Op() == nil {
		v = b.leafGrad[n]
	} else {
		it := b.g.From(n.ID())
		for it.Next() {
			if c, ok := it.Node().(*G.Node); ok && b.RequiresGrad(c) {
				v = true
				break
			}
		}
	}
	b.needsGrad[n] = v
	return v
}

func (b *Builder) diffs(ins ...*G.Node) []bool {
	d := make([]bool, len(ins))
	for i, n := range ins {
		d[i] = b.RequiresGrad(n)
	}
	return d
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// Scalar is a constant of the graph's dtype, for gorgonia's scalar arithmetic
// (G.Mul(x, b.Scalar(0.5))).
func (b *Builder) Scalar(v float64) *G.Node {
	if b.Dtype() == tensor.Float64 {
		return G.NewConstant(v)
	}
	return G.NewConstant(float32(v))
}
