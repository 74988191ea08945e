package judge

import (
	"fmt"
	"math"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/latexblend/latexblend/nn"
	"github.com/latexblend/latexblend/shapes"
)

// InputSize is the side images are resampled to before segmentation.
const InputSize = shapes.DefaultSize

// convSpec is one conv → GroupNorm → ReLU stage.
type convSpec struct{ in, out, stride, groups int }

// stages take a 32×32 object crop (RGB + mask) down to 4×4×48 features: one
// full-resolution stage that sees the texture cells, then three stride-2 stages whose
// last features see the whole crop. The features are flattened (crops are centred and
// scaled, so position within the crop is meaningful) into two linear layers. About
// 10 MFLOP per object, so training takes minutes on 2 cores.
var stages = []convSpec{
	{4, 32, 1, 8},
	{32, 32, 2, 8},
	{32, 64, 2, 8},
	{64, 48, 2, 8},
}

// featureSide is the side of the last feature map.
const featureSide = CropSize / 8

// NumOutputs is the number of logits per object: one per class, then one per texture
// (Plain included). Each group is read by its argmax.
var NumOutputs = shapes.NumClasses + shapes.NumTextures

const hidden = 64

// Network is the judge's CNN. Parameter names are "conv.<i>.weight", "norm.<i>.weight",
// "fc1.weight", … in the store.
type Network struct {
	Params *nn.Params
	convs  []*nn.Conv2d
	norms  []*nn.GroupNorm
	fc1    *nn.Linear
	fc2    *nn.Linear
}

// relu is max(x, 0); gorgonia's own op is cheap, unlike an exp-based SiLU, which would
// take a third of the training time here.
func relu(x *G.Node) (*G.Node, error) { return G.Rectify(x) }

// NewNetwork registers the network's float32 parameters (zero-filled; see Init and Load).
func NewNetwork() (*Network, error) { return newNetwork(tensor.Float32) }

// newNetwork is NewNetwork with a choice of dtype (float64 for gradient checks).
func newNetwork(dtype tensor.Dtype) (*Network, error) {
	ps := nn.NewParams(dtype)
	n := &Network{Params: ps}
	for i, s := range stages {
		n.convs = append(n.convs, nn.NewConv2d(ps, fmt.Sprintf("conv.%d", i), s.in, s.out, 3, nn.Conv2dOptions{Stride: s.stride, Pad: 1}, true))
		n.norms = append(n.norms, nn.NewGroupNorm(ps, fmt.Sprintf("norm.%d", i), s.groups, s.out, 1e-5))
	}
	last := stages[len(stages)-1].out * featureSide * featureSide
	n.fc1 = nn.NewLinear(ps, "fc1", last, hidden, true)
	n.fc2 = nn.NewLinear(ps, "fc2", hidden, NumOutputs, true)
	if err := ps.Err(); err != nil {
		return nil, fmt.Errorf("judge: %w", err)
	}
	return n, nil
}

// Init sets He-normal weights, zero biases and unit norm scales from seed.
func (n *Network) Init(seed uint64) {
	r := shapes.NewRand(seed)
	normal := func() float64 {
		// Box–Muller from two uniforms in (0, 1].
		u1 := (float64(r.Uint64()>>11) + 1) / (1 << 53)
		u2 := float64(r.Uint64()>>11) / (1 << 53)
		return math.Sqrt(-2*math.Log(u1)) * math.Cos(2*math.Pi*u2)
	}
	fill := func(p *nn.Param, std float64) {
		switch d := p.Value.Data().(type) {
		case []float32:
			for i := range d {
				d[i] = float32(std * normal())
			}
		case []float64:
			for i := range d {
				d[i] = std * normal()
			}
		}
	}
	set := func(p *nn.Param, v float64) {
		switch d := p.Value.Data().(type) {
		case []float32:
			for i := range d {
				d[i] = float32(v)
			}
		case []float64:
			for i := range d {
				d[i] = v
			}
		}
	}
	for i, c := range n.convs {
		s := stages[i]
		fill(c.Weight, math.Sqrt(2/float64(s.in*9)))
		set(c.Bias, 0)
		set(n.norms[i].Weight, 1)
		set(n.norms[i].Bias, 0)
	}
	fill(n.fc1.Weight, math.Sqrt(2/float64(stages[len(stages)-1].out*featureSide*featureSide)))
	set(n.fc1.Bias, 0)
	fill(n.fc2.Weight, 0.01)
	set(n.fc2.Bias, -1.5) // each output is "yes" for one class or texture in 5 or 6
}

// logits builds the forward pass of input "image" [B, 4, CropSize, CropSize] (object crops)
// to [B, NumOutputs].
func (n *Network) logits(b *nn.Builder) (*G.Node, error) {
	x, err := b.Input("image")
	if err != nil {
		return nil, err
	}
	for i, c := range n.convs {
		if x, err = c.Forward(b, x); err != nil {
			return nil, fmt.Errorf("judge: conv.%d: %w", i, err)
		}
		if x, err = n.norms[i].Forward(b, x); err != nil {
			return nil, fmt.Errorf("judge: norm.%d: %w", i, err)
		}
		if x, err = relu(x); err != nil {
			return nil, err
		}
	}
	// Flatten [B, C, 4, 4] → [B, C·16] with nn's copying Reshape. (gorgonia's
	// Mean(x, 2, 3) as a global pool has wrong gradients on 4×4 maps: the finite-difference
	// test caught it.)
	s := x.Shape()
	if x, err = b.Reshape(x, s[0], s[1]*s[2]*s[3]); err != nil {
		return nil, fmt.Errorf("judge: flatten: %w", err)
	}
	if x, err = n.fc1.Forward(b, x); err != nil {
		return nil, err
	}
	if x, err = relu(x); err != nil {
		return nil, err
	}
	return n.fc2.Forward(b, x)
}

// buildPredict outputs "logits".
func (n *Network) buildPredict(b *nn.Builder) error {
	z, err := n.logits(b)
	if err != nil {
		return err
	}
	b.Output("logits", z)
	return nil
}

// buildTrain also takes input "labels" [B, NumOutputs] (the one-hot class and texture of
// each object) and sets the mean binary cross-entropy of the logits as the loss.
func (n *Network) buildTrain(b *nn.Builder) error {
	z, err := n.logits(b)
	if err != nil {
		return err
	}
	y, err := b.Input("labels")
	if err != nil {
		return err
	}
	loss, err := bceWithLogits(z, y)
	if err != nil {
		return err
	}
	b.Output("logits", z)
	b.Loss(loss)
	return nil
}

// bceWithLogits is mean(softplus(z) − y·z), the binary cross-entropy of sigmoid(z)
// against y written so it never takes the log of a rounded-to-zero probability.
func bceWithLogits(z, y *G.Node) (*G.Node, error) {
	sp, err := G.Softplus(z)
	if err != nil {
		return nil, fmt.Errorf("judge: loss: %w", err)
	}
	yz, err := G.HadamardProd(y, z)
	if err != nil {
		return nil, fmt.Errorf("judge: loss: %w", err)
	}
	d, err := G.Sub(sp, yz)
	if err != nil {
		return nil, fmt.Errorf("judge: loss: %w", err)
	}
	return G.Mean(d)
}
