package nn

import (
	"fmt"

	G "gorgonia.org/gorgonia"
)

// named prefixes a module's build error with the module's path, so a shape mistake deep
// in a model names the layer (e.g. "down_blocks.1.resnets.0.conv1: nn: Conv2d of …").
func named(name string) func(n *G.Node, err error) (*G.Node, error) {
	return func(n *G.Node, err error) (*G.Node, error) {
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		return n, nil
	}
}

// Linear holds "<name>.weight" [out, in] and, with bias, "<name>.bias" [out].
type Linear struct {
	Name         string
	Weight, Bias *Param
}

// NewLinear registers a linear layer's parameters under name.
func NewLinear(ps *Params, name string, in, out int, bias bool) *Linear {
	l := &Linear{Name: name, Weight: ps.New(Join(name, "weight"), out, in)}
	if bias {
		l.Bias = ps.New(Join(name, "bias"), out)
	}
	return l
}

// Forward maps x [..., in] to [..., out].
func (l *Linear) Forward(b *Builder, x *G.Node) (*G.Node, error) {
	var bias *G.Node
	if l.Bias != nil {
		bias = b.Param(l.Bias)
	}
	return named(l.Name)(b.Linear(x, b.Param(l.Weight), bias))
}

// Conv2d holds "<name>.weight" [out, in, k, k] and, with bias, "<name>.bias" [out].
type Conv2d struct {
	Name         string
	Weight, Bias *Param
	Options      Conv2dOptions
}

// NewConv2d registers a square-kernel convolution's parameters under name.
func NewConv2d(ps *Params, name string, in, out, kernel int, opts Conv2dOptions, bias bool) *Conv2d {
	c := &Conv2d{Name: name, Weight: ps.New(Join(name, "weight"), out, in, kernel, kernel), Options: opts}
	if bias {
		c.Bias = ps.New(Join(name, "bias"), out)
	}
	return c
}

// Forward convolves x [B, in, H, W].
func (c *Conv2d) Forward(b *Builder, x *G.Node) (*G.Node, error) {
	var bias *G.Node
	if c.Bias != nil {
		bias = b.Param(c.Bias)
	}
	return named(c.Name)(b.Conv2d(x, b.Param(c.Weight), bias, c.Options))
}

// GroupNorm holds "<name>.weight" and "<name>.bias", both [channels].
type GroupNorm struct {
	Name         string
	Weight, Bias *Param
	Groups       int
	Eps          float64
}

// NewGroupNorm registers an affine group norm under name.
func NewGroupNorm(ps *Params, name string, groups, channels int, eps float64) *GroupNorm {
	return &GroupNorm{
		Name:   name,
		Weight: ps.New(Join(name, "weight"), channels),
		Bias:   ps.New(Join(name, "bias"), channels),
		Groups: groups,
		Eps:    eps,
	}
}

// Forward normalises x [B, C, …].
func (n *GroupNorm) Forward(b *Builder, x *G.Node) (*G.Node, error) {
	return named(n.Name)(b.GroupNorm(x, b.Param(n.Weight), b.Param(n.Bias), n.Groups, n.Eps))
}

// LayerNorm holds "<name>.weight" and "<name>.bias", both [dim].
type LayerNorm struct {
	Name         string
	Weight, Bias *Param
	Eps          float64
}

// NewLayerNorm registers an affine layer norm under name.
func NewLayerNorm(ps *Params, name string, dim int, eps float64) *LayerNorm {
	return &LayerNorm{Name: name, Weight: ps.New(Join(name, "weight"), dim), Bias: ps.New(Join(name, "bias"), dim), Eps: eps}
}

// Forward normalises x over its last axis.
func (n *LayerNorm) Forward(b *Builder, x *G.Node) (*G.Node, error) {
	return named(n.Name)(b.LayerNorm(x, b.Param(n.Weight), b.Param(n.Bias), n.Eps))
}

// Embedding holds "<name>.weight" [num, dim]. TrainRows, when not nil, limits the
// table's gradient to those rows (e.g. the one new token's row).
type Embedding struct {
	Name      string
	Weight    *Param
	TrainRows []int
}

// NewEmbedding registers an embedding table under name.
func NewEmbedding(ps *Params, name string, num, dim int) *Embedding {
	return &Embedding{Name: name, Weight: ps.New(Join(name, "weight"), num, dim)}
}

// Forward looks up ids (whole numbers in the graph's float type) → ids.shape + [dim].
func (e *Embedding) Forward(b *Builder, ids *G.Node) (*G.Node, error) {
	return named(e.Name)(b.Embedding(ids, b.Param(e.Weight), e.TrainRows))
}
