package nn

import (
	"strings"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// denseSquare is x² as an ApplyDense node whose gradient, 2·x·dy, is another one (the
// gradient check runs it as the "ApplyDense" op case).
func denseSquare(x *G.Node) (*G.Node, error) {
	shape := x.Shape().Clone()
	square := func(in []*tensor.Dense) (*tensor.Dense, error) {
		v := Float64s(in[0])
		for i := range v {
			v[i] *= v[i]
		}
		return DenseFromFloat64(in[0].Dtype(), v, shape...), nil
	}
	grad := func(in G.Nodes, _, dy *G.Node) (G.Nodes, error) {
		twice := func(in []*tensor.Dense) (*tensor.Dense, error) {
			x, dy := Float64s(in[0]), Float64s(in[1])
			for i := range x {
				x[i] *= 2 * dy[i]
			}
			return DenseFromFloat64(in[0].Dtype(), x, shape...), nil
		}
		g, err := ApplyDense("SquareGrad", twice, shape, nil, nil, in[0], dy)
		return G.Nodes{g}, err
	}
	return ApplyDense("Square", square, shape, []bool{true}, grad, x)
}

// TestApplyDenseChecksTheKernelsOutput: a kernel whose output disagrees with the shape
// the graph was built for fails the run, naming the op and both shapes.
func TestApplyDenseChecksTheKernelsOutput(t *testing.T) {
	wrong := func(in []*tensor.Dense) (*tensor.Dense, error) {
		return tensor.New(tensor.WithShape(3), tensor.WithBacking(make([]float32, 3))), nil
	}
	prog := NewProgram(NewParams(tensor.Float32), func(b *Builder) error {
		x, err := b.Input("x")
		if err != nil {
			return err
		}
		y, err := ApplyDense("Wrong", wrong, tensor.Shape{2}, nil, nil, x)
		if err != nil {
			return err
		}
		b.Output("y", y)
		return nil
	}, Hooks{})
	defer prog.Close()
	x := tensor.New(tensor.WithShape(2), tensor.WithBacking([]float32{1, 2}))
	_, err := prog.Run(map[string]*tensor.Dense{"x": x})
	if err == nil || !strings.Contains(err.Error(), "Wrong") || !strings.Contains(err.Error(), "float32 (3)") || !strings.Contains(err.Error(), "(2)") {
		t.Fatalf("a kernel making [3] for a [2] node: err = %v, want one naming the op and both shapes", err)
	}
	if _, err := ApplyDense("Nil", nil, tensor.Shape{2}, nil, nil, nil); err == nil || !strings.Contains(err.Error(), "Nil") {
		t.Errorf("no kernel: err = %v", err)
	}
}
