package eval

import (
	"fmt"
	"image"
	"slices"

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
		rec, err := roundTrip(m, imgs)
		if err != nil {
			return c, fmt.Errorf("eval: ceiling of %s: %w", ec.Name, err)
		}
		imgs = append(imgs, rec...)
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

// SceneCeiling is what any method could reach at best on the evaluation's prompts, as
// far as the base model's VAE allows: for every prompt, renders of the scene it asks for
// (shapes.ConceptScene: each concept's texture on an object of its class, no other
// object), passed through the VAE (encode, posterior mode, decode) and scored by the
// judge with the methods' metrics. A generator can only draw what the decoder can
// draw, so a method's scores above these are luck.
type SceneCeiling struct {
	// Scores maps a concept count to the score of its prompts' round-tripped renders.
	Scores map[int]Score
	// Rows holds, per prompt, its first GridRenders renders followed by their VAE
	// reconstructions.
	Rows [][]image.Image
}

// SceneCeilingRenders is how many scenes of each prompt the scene ceiling renders:
// 64 images per concept count, so its scores carry about half the noise of a method's
// (4 seeds) at a few seconds' cost. At most GridRenders of them go into the grid.
const (
	SceneCeilingRenders = 16
	GridRenders         = 8
)

// sceneCeilingStream seeds the scenes of prompt i (shapes.Derive(stream+i, k) for its
// k-th render), apart from every data set's stream.
const sceneCeilingStream = 0x7363656e65 // "scene"

// MeasureSceneCeiling renders n scenes per prompt at size px and scores them after a
// round trip through the VAE.
func MeasureSceneCeiling(m *vae.Model, j *judge.Judge, prompts []Prompt, n, size int) (SceneCeiling, error) {
	var c SceneCeiling
	byCount := map[int][]Judged{}
	for pi, pr := range prompts {
		concepts := make([]shapes.Concept, pr.N())
		for i, ec := range pr.Concepts {
			concepts[i] = ec.Concept
		}
		imgs := make([]image.Image, n)
		for k := range n {
			sc, err := shapes.ConceptScene(shapes.NewRand(shapes.Derive(sceneCeilingStream+uint64(pi), k)), concepts)
			if err != nil {
				return c, fmt.Errorf("eval: scene ceiling of %s: %w", pr.Name(), err)
			}
			if imgs[k], err = shapes.Render(sc, size); err != nil {
				return c, fmt.Errorf("eval: scene ceiling of %s: %w", pr.Name(), err)
			}
		}
		rec, err := roundTrip(m, imgs)
		if err != nil {
			return c, fmt.Errorf("eval: scene ceiling of %s: %w", pr.Name(), err)
		}
		g := min(n, GridRenders)
		c.Rows = append(c.Rows, append(slices.Clone(imgs[:g]), rec[:g]...))
		vs, err := j.Predict(rec)
		if err != nil {
			return c, fmt.Errorf("eval: scene ceiling of %s: %w", pr.Name(), err)
		}
		for _, v := range vs {
			byCount[pr.N()] = append(byCount[pr.N()], Judged{Prompt: pr, Verdict: v})
		}
	}
	var err error
	c.Scores, err = scoreByCount(byCount)
	return c, err
}

// roundTrip encodes images with the VAE and decodes the posterior mode.
func roundTrip(m *vae.Model, imgs []image.Image) ([]image.Image, error) {
	x, err := vae.FromImages(imgs...)
	if err != nil {
		return nil, err
	}
	dist, err := m.Encode(x)
	if err != nil {
		return nil, fmt.Errorf("encoding: %w", err)
	}
	y, err := m.Decode(dist.Mode())
	if err != nil {
		return nil, fmt.Errorf("decoding: %w", err)
	}
	rec, err := vae.ToImages(y)
	if err != nil {
		return nil, err
	}
	out := make([]image.Image, len(rec))
	for i, r := range rec {
		out[i] = r
	}
	return out, nil
}
