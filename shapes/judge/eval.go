package judge

import (
	"fmt"
	"image"
	"strings"

	"github.com/latexblend/latexblend/shapes"
)

// HeldOutSeed seeds the evaluation stream; training seeds are small numbers, so the
// held-out scenes are never trained on.
const HeldOutSeed = 0x7e57_0000_0001

// Metrics is the judge's accuracy on a labelled set.
type Metrics struct {
	Images int
	// LabelAccuracy is the fraction of (image, label) decisions that are right.
	LabelAccuracy float64
	// MinLabelAccuracy is the accuracy of the worst label, named by MinLabel.
	MinLabelAccuracy float64
	MinLabel         string
	// ExactMatch is the fraction of images with every label right; ClassExact and
	// TextureExact count only the class labels or only the texture-on-class labels.
	ExactMatch, ClassExact, TextureExact float64
	// ConceptRecall is the fraction of concept-set images where the concept is found
	// with no texture on any other class (filled by EvaluateConcepts).
	ConceptRecall float64
}

// String prints the metrics as key=value pairs.
func (m Metrics) String() string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "images=%d label_accuracy=%.4f min_label_accuracy=%.4f min_label=%s exact_match=%.4f class_exact=%.4f texture_exact=%.4f",
		m.Images, m.LabelAccuracy, m.MinLabelAccuracy, m.MinLabel, m.ExactMatch, m.ClassExact, m.TextureExact)
	if m.ConceptRecall > 0 {
		fmt.Fprintf(&sb, " concept_recall=%.4f", m.ConceptRecall)
	}
	return sb.String()
}

// Evaluate scores the judge on n held-out renders (the training distribution, never
// augmented) drawn from seed.
func Evaluate(j *Judge, seed uint64, n int) (Metrics, error) {
	scenes := make([]shapes.Scene, n)
	imgs := make([]image.Image, n)
	for i := range scenes {
		scenes[i] = TrainingScene(seed, i, 1, 2)
		imgs[i] = shapes.MustRender(scenes[i], InputSize)
	}
	return Score(j, scenes, imgs)
}

// Score compares the judge's verdicts on imgs with the labels of scenes.
func Score(j *Judge, scenes []shapes.Scene, imgs []image.Image) (Metrics, error) {
	if len(scenes) != len(imgs) || len(imgs) == 0 {
		return Metrics{}, fmt.Errorf("judge: scoring %d images against %d scenes", len(imgs), len(scenes))
	}
	vs, err := j.Predict(imgs)
	if err != nil {
		return Metrics{}, err
	}
	right := make([]int, NumLabels)
	m := Metrics{Images: len(imgs)}
	var exact, classExact, texExact int
	for i, v := range vs {
		y := Labels(scenes[i])
		allOK, classOK, texOK := true, true, true
		for k := range y {
			ok := v.Has(k) == (y[k] > 0.5)
			if ok {
				right[k]++
				continue
			}
			allOK = false
			if k < shapes.NumClasses {
				classOK = false
			} else {
				texOK = false
			}
		}
		exact += b2i(allOK)
		classExact += b2i(classOK)
		texExact += b2i(texOK)
	}
	n := float64(len(imgs))
	total := 0
	m.MinLabelAccuracy = 2
	for k, r := range right {
		total += r
		if a := float64(r) / n; a < m.MinLabelAccuracy {
			m.MinLabelAccuracy, m.MinLabel = a, LabelName(k)
		}
	}
	m.LabelAccuracy = float64(total) / (n * float64(NumLabels))
	m.ExactMatch, m.ClassExact, m.TextureExact = float64(exact)/n, float64(classExact)/n, float64(texExact)/n
	return m, nil
}

// EvaluateConcepts returns the fraction of the concept-set images (the onboarding images
// of every concept) where the judge finds the concept and no bleeding.
func EvaluateConcepts(j *Judge) (float64, error) {
	var imgs []image.Image
	var concepts []shapes.Concept
	for _, c := range shapes.Concepts {
		set, err := shapes.ConceptSet(c.Name, shapes.ConceptImages, InputSize)
		if err != nil {
			return 0, err
		}
		for _, s := range set {
			imgs = append(imgs, s.Image)
			concepts = append(concepts, c)
		}
	}
	vs, err := j.Predict(imgs)
	if err != nil {
		return 0, err
	}
	ok := 0
	for i, v := range vs {
		if v.ConceptFound(concepts[i]) && len(v.Bleeds(concepts[i])) == 0 {
			ok++
		}
	}
	return float64(ok) / float64(len(vs)), nil
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
