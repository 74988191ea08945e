package shapes

import "fmt"

// Concept is a specific textured instance of a class that the base data never shows: the
// thing a user onboards with a few images and a modifier token.
type Concept struct {
	Name        string // identifier, e.g. "checker-star"
	Class       Class
	Texture     Texture
	Description string // what a person would see
}

// ConceptImages is how many images a concept set has by default.
const ConceptImages = 8

// Concepts are the world's concepts, each a different texture on a different class.
var Concepts = []Concept{
	{"checker-star", Star, Checker, "a star with a black and yellow checkerboard pattern"},
	{"rainbow-ring", Ring, Rainbow, "a ring painted with vertical rainbow stripes"},
	{"dotted-square", Square, Dots, "a magenta square with white polka dots"},
	{"striped-triangle", Triangle, Stripes, "a triangle with teal and white diagonal stripes"},
}

// IsConcept reports whether texture t on class c is one of the world's concepts, which
// the base data never shows.
func IsConcept(c Class, t Texture) bool {
	for _, k := range Concepts {
		if k.Class == c && k.Texture == t {
			return true
		}
	}
	return false
}

// ConceptNames lists the concept names in order.
func ConceptNames() []string {
	out := make([]string, len(Concepts))
	for i, c := range Concepts {
		out[i] = c.Name
	}
	return out
}

// LookupConcept returns the concept with the given name.
func LookupConcept(name string) (Concept, error) {
	for _, c := range Concepts {
		if c.Name == name {
			return c, nil
		}
	}
	return Concept{}, fmt.Errorf("shapes: unknown concept %q (have %v)", name, ConceptNames())
}

// Prompt returns the concept's training caption with the modifier token,
// "photo of a <new1> star".
func (c Concept) Prompt() string { return "photo of a " + Modifier + " " + c.Class.String() }

// ConceptSet returns the n images of a concept: the concept object alone at various
// positions, sizes and backgrounds, captioned with Prompt. The stream is fixed per
// concept, so every machine onboards the same images.
func ConceptSet(name string, n, size int) ([]Sample, error) {
	var idx = -1
	for i, c := range Concepts {
		if c.Name == name {
			idx = i
		}
	}
	if idx < 0 {
		return nil, fmt.Errorf("shapes: unknown concept %q (have %v)", name, ConceptNames())
	}
	c := Concepts[idx]
	base := uint64(conceptSeedBase) + uint64(idx)
	return build(n, size, func(i int) (Scene, string) {
		return SingleScene(NewRand(Derive(base, i)), c.Class, c.Texture), c.Prompt()
	})
}
