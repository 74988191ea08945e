package judge

import (
	"math"
	"testing"

	"gorgonia.org/tensor"

	"github.com/latexblend/latexblend/nn"
	"github.com/latexblend/latexblend/shapes"
)

// TestGradientsMatchFiniteDifferences checks the backward pass of the whole network and
// its loss (conv, GroupNorm, ReLU, mean pooling, linear, softplus BCE) in float64 against
// central differences, on a few weights of every parameter tensor.
func TestGradientsMatchFiniteDifferences(t *testing.T) {
	net, err := newNetwork(tensor.Float64)
	if err != nil {
		t.Fatal(err)
	}
	net.Init(3)
	net.Params.SetTrainable(func(string) bool { return true })
	prog := nn.NewProgram(net.Params, net.buildTrain, nn.Hooks{})
	defer prog.Close()

	r := shapes.NewRand(9)
	const bs, side = 2, 32
	x := make([]float64, bs*4*side*side)
	for i := range x {
		x[i] = 2*float64(r.Float32()) - 1
	}
	y := make([]float64, bs*NumOutputs)
	for i := range y {
		y[i] = float64(r.Intn(2))
	}
	inputs := map[string]*tensor.Dense{
		"image":  tensor.New(tensor.WithShape(bs, 4, side, side), tensor.WithBacking(x)),
		"labels": tensor.New(tensor.WithShape(bs, NumOutputs), tensor.WithBacking(y)),
	}
	loss := func() float64 {
		res, err := prog.Run(inputs)
		if err != nil {
			t.Fatal(err)
		}
		return res.Loss
	}
	loss()
	grads := map[string][]float64{}
	for _, name := range net.Params.Names() {
		grads[name] = append([]float64(nil), net.Params.Get(name).Grad.Data().([]float64)...)
	}
	const eps = 1e-6
	for _, name := range net.Params.Names() {
		w := net.Params.Get(name).Value.Data().([]float64)
		for k := 0; k < 3; k++ {
			i := r.Intn(len(w))
			orig := w[i]
			w[i] = orig + eps
			up := loss()
			w[i] = orig - eps
			down := loss()
			w[i] = orig
			fd := (up - down) / (2 * eps)
			got := grads[name][i]
			if math.Abs(fd-got) > 1e-6+1e-4*math.Abs(fd) {
				t.Errorf("%s[%d]: analytic gradient %.8g, finite difference %.8g", name, i, got, fd)
			}
		}
	}
}

func TestLabels(t *testing.T) {
	s := shapes.Scene{Objects: []shapes.Object{
		{Class: shapes.Star, Texture: shapes.Checker, R: 10},
		{Class: shapes.Ring, Color: 2, R: 10},
	}}
	y := Labels(s)
	want := map[int]bool{
		ClassLabel(shapes.Star):                true,
		ClassLabel(shapes.Ring):                true,
		PairLabel(shapes.Checker, shapes.Star): true,
	}
	for i, v := range y {
		if (v == 1) != want[i] {
			t.Errorf("label %s = %v, want %v", LabelName(i), v, want[i])
		}
	}
	seen := map[string]bool{}
	for i := 0; i < NumLabels; i++ {
		if seen[LabelName(i)] {
			t.Fatalf("label name %s repeats", LabelName(i))
		}
		seen[LabelName(i)] = true
	}
	if LabelName(PairLabel(shapes.Stripes, shapes.Cross)) != "stripes@cross" || NumLabels != 30 {
		t.Fatalf("label layout changed: %s, %d labels", LabelName(PairLabel(shapes.Stripes, shapes.Cross)), NumLabels)
	}
}

func TestVerdictConceptAndBleeding(t *testing.T) {
	c, err := shapes.LookupConcept("checker-star")
	if err != nil {
		t.Fatal(err)
	}
	v := Verdict{Probs: make([]float32, NumLabels)}
	v.Probs[PairLabel(shapes.Checker, shapes.Star)] = 0.9
	v.Probs[PairLabel(shapes.Checker, shapes.Ring)] = 0.7
	v.Probs[PairLabel(shapes.Rainbow, shapes.Circle)] = 0.8
	if !v.ConceptFound(c) {
		t.Error("concept not found")
	}
	if b := v.Bleeds(c); len(b) != 1 || b[0] != shapes.Ring {
		t.Errorf("Bleeds = %v, want [ring]", b)
	}
}
