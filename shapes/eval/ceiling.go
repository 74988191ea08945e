package eval

import (
	"fmt"
	"image"

	"github.com/latexblend/latexblend/model/vae"
	"github.com/latexblend/latexblend/shapes"
	"github.com/latexblend/latexblend/shapes/judge"
)

// Ceiling is what any method could reach at best on the concepts, measured on their
// training images: the judge's recall on the renders themselves, and on the renders
// passed through the base model's VAE (encode, posterior mode, decode). A texture the
// VAE cannot reproduce cannot be generated either.
type Ceiling struct {
	Images      int
	JudgeRecall float64
	VAERecall   float64
	// Rows holds, per concept, its renders followed by their VAE reconstructions.
	Rows [][]image.Image
}

// MeasureCeiling runs the first n images of every concept's set (size px) through the
// judge, and through the VAE and the judge.
func MeasureCeiling(m *vae.Model, j *judge.Judge, concepts []EvalConcept, n, size int) (Ceiling, error) {
	var c Ceiling
	var found, vaeFound int
	for _, ec := range concepts {
		set, err := shapes.ConceptSet(ec.Name, n, size)
		if err != nil {
			return c, err
		}
		imgs := make([]image.Image, len(set))
		for i, s := range set {
			imgs[i] = s.Image
		}
		x, err := vae.FromImages(imgs...)
		if err != nil {
			return c, fmt.Errorf("eval: ceiling of %s: %w", ec.Name, err)
		}
		dist, err := m.Encode(x)
		if err != nil {
			return c, fmt.Errorf("eval: ceiling of %s: encoding: %w", ec.Name, err)
		}
		y, err := m.Decode(dist.Mode())
		if err != nil {
			return c, fmt.Errorf("eval: ceiling of %s: decoding: %w", ec.Name, err)
		}
		rec, err := vae.ToImages(y)
		if err != nil {
			return c, err
		}
		for _, r := range rec {
			imgs = append(imgs, r)
		}
		c.Rows = append(c.Rows, imgs)
		vs, err := j.Predict(imgs)
		if err != nil {
			return c, fmt.Errorf("eval: ceiling of %s: %w", ec.Name, err)
		}
		for i, v := range vs {
			switch ok := v.ConceptFound(ec.Concept); {
			case i < n && ok:
				found++
			case i >= n && ok:
				vaeFound++
			}
		}
		c.Images += n
	}
	c.JudgeRecall = ratio(found, c.Images)
	c.VAERecall = ratio(vaeFound, c.Images)
	return c, nil
}
