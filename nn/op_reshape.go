package nn

import (
	"fmt"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Reshape returns a copy of x with a new shape. gorgonia's own Reshape shares x's memory
// with the result and then lets in-place ops write through it, which silently corrupts
// values and gradients; this one always copies.
func (b *Builder) Reshape(x *G.Node, shape ...int) (*G.Node, error) {
	to := tensor.Shape(append([]int(nil), shape...))
	if numel(to) != numel(x.Shape()) {
		return nil, fmt.Errorf("nn: Reshape %v to %v: element counts differ", x.Shape(), to)
	}
	return reshape(x, to, b.diffs(x))
}

func reshape(x *G.Node, to tensor.Shape, diff []bool) (*G.Node, error) {
	from := x.Shape().Clone()
	grad := func(_ G.Nodes, _, dy *G.Node) (G.Nodes, error) {
		dx, err := reshape(dy, from, nil)
		return G.Nodes{dx}, err
	}
	if diff == nil {
		grad = nil
	}
	return apply(fmt.Sprintf("Reshape%v", to), kernel{copyKernel[float32], copyKernel[float64]}, to, diff, grad, x)
}

func copyKernel[T float](in [][]T, out []T) error {
	copy(out, in[0])
	return nil
}
