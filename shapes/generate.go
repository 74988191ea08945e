package shapes

import "fmt"

// Scene generation: how many objects, how big, where, and on what background. Sizes are
// chosen so that, at 64×64, a lone object is 29–48 px wide and each of three objects is
// still 18–28 px wide: large enough for a tiny diffusion model to draw and for the
// textures' cells (a fifth of the width) to stay 3 px or more.

// sizeRange is the range of an object's half-size R for a scene with n objects.
func sizeRange(n int) (lo, hi int) {
	switch n {
	case 1:
		return 230, 380
	case 2:
		return 165, 270
	default:
		return 140, 220
	}
}

// margin keeps objects off the image border, gap keeps their boxes apart (scene units).
const (
	margin = 24
	gap    = 28
)

// objectSpec is what a generator decided about an object before placing it.
type objectSpec struct {
	class   Class
	color   int
	texture Texture
}

// placeObjects gives each spec a size and a position so that the objects' boxes do not
// overlap; when random placement keeps failing it shrinks all sizes and tries again.
func placeObjects(r *Rand, specs []objectSpec, lo, hi int) []Object {
	objs := make([]Object, len(specs))
	for i := range specs {
		objs[i] = Object{Class: specs[i].class, Color: specs[i].color, Texture: specs[i].texture, R: r.Range(lo, hi)}
	}
	for {
		if placeAll(r, objs) {
			return objs
		}
		for i := range objs {
			objs[i].R = max(objs[i].R*9/10, 64)
		}
	}
}

// placeAll tries random positions object by object, each up to 100 times.
func placeAll(r *Rand, objs []Object) bool {
	for i := range objs {
		o := &objs[i]
		ok := false
		for try := 0; try < 100 && !ok; try++ {
			o.X = r.Range(o.R+margin, SceneUnits-o.R-margin)
			o.Y = r.Range(o.R+margin, SceneUnits-o.R-margin)
			ok = true
			for j := 0; j < i; j++ {
				p := objs[j]
				if abs(o.X-p.X) < o.R+p.R+gap && abs(o.Y-p.Y) < o.R+p.R+gap {
					ok = false
					break
				}
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

// randomBackground picks a flat (40%) or gradient background whose colours contrast with
// every plain object of the scene.
func randomBackground(r *Rand, objs []Object) Background {
	for {
		b := Background{From: backgroundColors[r.Intn(len(backgroundColors))]}
		b.To = b.From
		if !r.Chance(2, 5) {
			b.Kind = Gradient(1 + r.Intn(3))
			b.To = backgroundColors[r.Intn(len(backgroundColors))]
			if b.To == b.From {
				continue
			}
		}
		if contrasts(b, objs) {
			return b
		}
	}
}

func contrasts(b Background, objs []Object) bool {
	for _, o := range objs {
		if o.Texture != Plain {
			continue // every texture has both a dark and a light colour
		}
		c := Colors[o.Color].RGB
		if dist2(c, b.From) < minContrast2 || dist2(c, b.To) < minContrast2 {
			return false
		}
	}
	return true
}

// distinctClasses returns n different classes in random order.
func distinctClasses(r *Rand, n int) []Class {
	all := Classes()
	for i := len(all) - 1; i > 0; i-- {
		j := r.Intn(i + 1)
		all[i], all[j] = all[j], all[i]
	}
	return all[:n]
}

// objectCount draws 1, 2 or 3 objects with probabilities 40%, 35%, 25%.
func objectCount(r *Rand) int {
	switch v := r.Intn(20); {
	case v < 8:
		return 1
	case v < 15:
		return 2
	default:
		return 3
	}
}

// Base objects wear a pattern texture with probability baseTextureNum/baseTextureDen.
const (
	baseTextureNum = 1
	baseTextureDen = 3
)

// BaseScene is the scene of base-dataset item drawn from r: one to three objects of
// different classes, each in a random plain colour or, a third of the time, in one of the
// pattern textures, so that the base model knows patterns as Stable Diffusion knows
// materials. A texture is never put on the class of the concept that wears it (IsConcept):
// a checkered star, a rainbow ring, a dotted square and a striped triangle stay unseen
// until they are onboarded.
func BaseScene(r *Rand) Scene {
	n := objectCount(r)
	specs := make([]objectSpec, n)
	textures := PatternTextures()
	for i, c := range distinctClasses(r, n) {
		specs[i] = objectSpec{class: c, color: r.Intn(len(Colors))}
		if r.Chance(baseTextureNum, baseTextureDen) {
			if t := textures[r.Intn(len(textures))]; !IsConcept(c, t) {
				specs[i].texture = t
			}
		}
	}
	lo, hi := sizeRange(n)
	objs := placeObjects(r, specs, lo, hi)
	return Scene{Background: randomBackground(r, objs), Objects: objs}
}

// MixedScene is BaseScene where each object is given, with probability texNum/texDen, one
// of textures instead of its plain colour: the judge's training and test distribution.
func MixedScene(r *Rand, textures []Texture, texNum, texDen int) Scene {
	n := objectCount(r)
	specs := make([]objectSpec, n)
	for i, c := range distinctClasses(r, n) {
		specs[i] = objectSpec{class: c, color: r.Intn(len(Colors))}
		if len(textures) > 0 && r.Chance(texNum, texDen) {
			specs[i].texture = textures[r.Intn(len(textures))]
		}
	}
	lo, hi := sizeRange(n)
	objs := placeObjects(r, specs, lo, hi)
	return Scene{Background: randomBackground(r, objs), Objects: objs}
}

// SingleScene is one object of the given class and texture (a random colour when plain),
// as in concept and regularisation images: a bit larger than a lone base object.
func SingleScene(r *Rand, class Class, texture Texture) Scene {
	specs := []objectSpec{{class: class, color: r.Intn(len(Colors)), texture: texture}}
	objs := placeObjects(r, specs, 250, 400)
	return Scene{Background: randomBackground(r, objs), Objects: objs}
}

// ConceptScene is the scene a multi-concept prompt asks for ("a <new1> star and a <new2>
// ring"): one object per concept, of its class and in its texture, sized and placed as
// the base data's scenes of that many objects are. The evaluation renders it to measure
// what the VAE lets any generator reach (shapes/eval's scene ceiling).
func ConceptScene(r *Rand, concepts []Concept) (Scene, error) {
	if len(concepts) == 0 {
		return Scene{}, fmt.Errorf("shapes: concept scene of no concepts")
	}
	specs := make([]objectSpec, len(concepts))
	for i, c := range concepts {
		if !IsConcept(c.Class, c.Texture) {
			return Scene{}, fmt.Errorf("shapes: concept scene: %s %s is not a concept of the world", c.Texture, c.Class)
		}
		for _, o := range concepts[:i] {
			if o.Class == c.Class {
				return Scene{}, fmt.Errorf("shapes: concept scene: two concepts of class %s", c.Class)
			}
		}
		specs[i] = objectSpec{class: c.Class, color: r.Intn(len(Colors)), texture: c.Texture}
	}
	lo, hi := sizeRange(len(specs))
	objs := placeObjects(r, specs, lo, hi)
	return Scene{Background: randomBackground(r, objs), Objects: objs}, nil
}
