package vae

import (
	"fmt"
	"strings"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/latexblend/latexblend/nn"
)

// step is one stage of a network (a convolution, a resnet, the mid attention, an
// output head). A graph applies the steps in order; inference compiles each step as a
// program of its own so that only one step's activations are alive at a time.
type step struct {
	name string
	fn   func(b *nn.Builder, x *G.Node) (*G.Node, error)
}

// applySteps chains steps inside one graph.
func applySteps(b *nn.Builder, steps []step, x *G.Node) (*G.Node, error) {
	var err error
	for _, s := range steps {
		if x, err = s.fn(b, x); err != nil {
			return nil, fmt.Errorf("%s: %w", s.name, err)
		}
	}
	return x, nil
}

// conv wraps a convolution as a step.
func convStep(c *nn.Conv2d) step {
	return step{name: c.Name, fn: c.Forward}
}

// headStep is the output head of the encoder and the decoder: GroupNorm, activation,
// convolution.
func headStep(norm *nn.GroupNorm, act string, conv *nn.Conv2d) step {
	return step{name: strings.TrimSuffix(norm.Name, ".conv_norm_out") + ".conv_out", fn: func(b *nn.Builder, x *G.Node) (*G.Node, error) {
		h, err := normAct(b, norm, act, x)
		if err != nil {
			return nil, err
		}
		return conv.Forward(b, h)
	}}
}

// stagedRunner runs steps one program at a time: the output of each is copied out and
// fed to the next, so peak memory is the largest step's rather than the whole
// network's. Each program is compiled once per input shape and reused.
type stagedRunner struct {
	steps []step
	progs []*nn.Program
}

func newStagedRunner(ps *nn.Params, steps []step) *stagedRunner {
	r := &stagedRunner{steps: steps}
	for _, s := range steps {
		fn := s.fn
		r.progs = append(r.progs, nn.NewProgram(ps, func(b *nn.Builder) error {
			x, err := b.Input("x")
			if err != nil {
				return err
			}
			y, err := fn(b, x)
			if err != nil {
				return err
			}
			b.Output("y", y)
			return nil
		}, nn.Hooks{}))
	}
	return r
}

func (r *stagedRunner) run(x *tensor.Dense) (*tensor.Dense, error) {
	for i, p := range r.progs {
		res, err := p.Run(map[string]*tensor.Dense{"x": x})
		if err != nil {
			return nil, fmt.Errorf("%s: %w", r.steps[i].name, err)
		}
		x = res.Outputs["y"]
	}
	return x, nil
}

func (r *stagedRunner) close() error {
	var first error
	for _, p := range r.progs {
		if err := p.Close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}
