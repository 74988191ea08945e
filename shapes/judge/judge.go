package judge

import (
	"fmt"
	"image"
	"math"

	"gorgonia.org/tensor"

	"github.com/latexblend/latexblend/nn"
	"github.com/latexblend/latexblend/shapes"
)

// predictBatch is the fixed number of crops per network run; short batches are padded
// so the program compiles one graph only.
const predictBatch = 64

// Judge runs a trained Network on images: segment each image into objects, classify
// every object's class and texture, and combine the objects into a Verdict.
type Judge struct {
	net  *Network
	prog *nn.Program
}

// New wraps a network (trained or loaded) for prediction.
func New(net *Network) *Judge {
	return &Judge{net: net, prog: nn.NewProgram(net.Params, net.buildPredict, nn.Hooks{})}
}

// Network returns the judge's network.
func (j *Judge) Network() *Network { return j.net }

// Close releases the compiled graphs.
func (j *Judge) Close() error { return j.prog.Close() }

// Object is what the judge sees in one segmented object.
type Object struct {
	Class       shapes.Class
	Texture     shapes.Texture
	ClassProb   float32 // normalised score of Class among the classes
	TextureProb float32
	Pixels      int
}

// crop is one object crop awaiting classification.
type crop struct {
	image int
	data  []float32
	size  int
}

// Objects returns the objects the judge finds in each image.
func (j *Judge) Objects(imgs []image.Image) ([][]Object, error) {
	var crops []crop
	for i, img := range imgs {
		if img == nil || img.Bounds().Empty() {
			return nil, fmt.Errorf("judge: image %d is empty", i)
		}
		rgba := toInput(img)
		blobs := segment(rgba)
		own := owners(blobs, InputSize*InputSize)
		for id, bl := range blobs {
			d := make([]float32, cropPlane)
			cropInto(d, rgba, own, id, bl)
			crops = append(crops, crop{image: i, data: d, size: len(bl.pixels)})
		}
	}
	out := make([][]Object, len(imgs))
	x := tensor.New(tensor.WithShape(predictBatch, 4, CropSize, CropSize), tensor.Of(tensor.Float32))
	for lo := 0; lo < len(crops); lo += predictBatch {
		hi := min(lo+predictBatch, len(crops))
		data := x.Data().([]float32)
		for i := lo; i < hi; i++ {
			copy(data[(i-lo)*cropPlane:], crops[i].data)
		}
		res, err := j.prog.Run(map[string]*tensor.Dense{"image": x})
		if err != nil {
			return nil, fmt.Errorf("judge: %w", err)
		}
		z := res.Outputs["logits"].Data().([]float32)
		for i := lo; i < hi; i++ {
			o := readObject(z[(i-lo)*NumOutputs : (i-lo+1)*NumOutputs])
			o.Pixels = crops[i].size
			out[crops[i].image] = append(out[crops[i].image], o)
		}
	}
	return out, nil
}

// readObject turns one object's logits into its class and texture: the argmax of each
// group, with its sigmoid normalised over the group as the confidence.
func readObject(z []float32) Object {
	cls, cp := argmaxNorm(z[:shapes.NumClasses])
	tex, tp := argmaxNorm(z[shapes.NumClasses:])
	return Object{Class: shapes.Class(cls), Texture: shapes.Texture(tex), ClassProb: cp, TextureProb: tp}
}

func argmaxNorm(z []float32) (int, float32) {
	best, sum := 0, 0.0
	ps := make([]float64, len(z))
	for i, v := range z {
		ps[i] = 1 / (1 + math.Exp(-float64(v)))
		sum += ps[i]
		if ps[i] > ps[best] {
			best = i
		}
	}
	return best, float32(ps[best] / sum)
}

// Predict returns one verdict per image. Images of any size are resampled to 64×64.
// Label probabilities are the best confidence over the image's objects: a class label
// is an object's class confidence, a texture@class label the product of an object's
// class and texture confidences.
func (j *Judge) Predict(imgs []image.Image) ([]Verdict, error) {
	objs, err := j.Objects(imgs)
	if err != nil {
		return nil, err
	}
	out := make([]Verdict, len(imgs))
	for i, os := range objs {
		v := Verdict{Probs: make([]float32, NumLabels)}
		for _, o := range os {
			k := ClassLabel(o.Class)
			v.Probs[k] = max(v.Probs[k], o.ClassProb)
			if o.Texture != shapes.Plain {
				k = PairLabel(o.Texture, o.Class)
				v.Probs[k] = max(v.Probs[k], o.ClassProb*o.TextureProb)
			}
		}
		out[i] = v
	}
	return out, nil
}
