package judge

import (
	"fmt"

	"github.com/latexblend/latexblend/shapes"
)

// A Verdict holds independent yes/no labels per image, combined from its objects:
//
//	[0, NumClasses)                       class c is present (any texture)
//	NumClasses + t·NumClasses + c         texture PatternTextures()[t] is on an object of class c
//
// The texture-on-class pairs let evaluation tell a concept on its own object (checker on
// the star) from a texture that bled onto another object (checker on the ring).
var (
	numPatterns = len(shapes.PatternTextures())
	// NumLabels is the length of a label vector.
	NumLabels = shapes.NumClasses + numPatterns*shapes.NumClasses
)

// ClassLabel is the index of "class c is present".
func ClassLabel(c shapes.Class) int { return int(c) }

// PairLabel is the index of "texture t is on an object of class c"; t must not be Plain.
func PairLabel(t shapes.Texture, c shapes.Class) int {
	return shapes.NumClasses + (int(t)-1)*shapes.NumClasses + int(c)
}

// LabelName names a label: "class:star" or "checker@star".
func LabelName(i int) string {
	if i < shapes.NumClasses {
		return "class:" + shapes.Class(i).String()
	}
	j := i - shapes.NumClasses
	return fmt.Sprintf("%v@%v", shapes.Texture(1+j/shapes.NumClasses), shapes.Class(j%shapes.NumClasses))
}

// Labels returns the ground-truth label vector of a scene (1 = yes).
func Labels(s shapes.Scene) []float32 {
	y := make([]float32, NumLabels)
	for _, o := range s.Objects {
		y[ClassLabel(o.Class)] = 1
		if o.Texture != shapes.Plain {
			y[PairLabel(o.Texture, o.Class)] = 1
		}
	}
	return y
}

// Verdict is the judge's opinion of one image: a probability per label.
type Verdict struct {
	Probs []float32
}

// Threshold is the probability above which a label counts as present.
const Threshold = 0.5

// Has reports whether label i is judged present.
func (v Verdict) Has(i int) bool { return v.Probs[i] > Threshold }

// HasClass reports whether an object of class c is seen.
func (v Verdict) HasClass(c shapes.Class) bool { return v.Has(ClassLabel(c)) }

// TextureOn reports whether texture t is seen on an object of class c.
func (v Verdict) TextureOn(t shapes.Texture, c shapes.Class) bool { return v.Has(PairLabel(t, c)) }

// ConceptFound reports whether the concept's texture is seen on an object of its class.
func (v Verdict) ConceptFound(c shapes.Concept) bool { return v.TextureOn(c.Texture, c.Class) }

// Bleeds lists the classes other than the concept's own on which the concept's texture
// is seen.
func (v Verdict) Bleeds(c shapes.Concept) []shapes.Class {
	var out []shapes.Class
	for _, k := range shapes.Classes() {
		if k != c.Class && v.TextureOn(c.Texture, k) {
			out = append(out, k)
		}
	}
	return out
}

// Present returns the names of the labels judged present, for printing.
func (v Verdict) Present() []string {
	var out []string
	for i := range v.Probs {
		if v.Has(i) {
			out = append(out, LabelName(i))
		}
	}
	return out
}
