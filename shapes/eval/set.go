package eval

import (
	"fmt"
	"slices"
	"strings"

	"github.com/latexblend/latexblend/shapes"
)

// EvalConcept is one concept of the evaluation with the modifier token it is trained
// with. Every concept has its own token (<new1>, <new2>, …), so that the merged-weights
// baseline can name several concepts in one prompt without their tokens colliding.
type EvalConcept struct {
	shapes.Concept
	Token string
}

// Concepts are the evaluation's concepts: every shapes-world concept, in the world's
// order, the i-th trained with token <new{i+1}>.
func Concepts() []EvalConcept {
	out := make([]EvalConcept, len(shapes.Concepts))
	for i, c := range shapes.Concepts {
		out[i] = EvalConcept{Concept: c, Token: fmt.Sprintf("<new%d>", i+1)}
	}
	return out
}

// LookupConcept returns the evaluation concept with the given shapes-world name.
func LookupConcept(name string) (EvalConcept, error) {
	for _, c := range Concepts() {
		if c.Name == name {
			return c, nil
		}
	}
	return EvalConcept{}, fmt.Errorf("eval: unknown concept %q (have %v)", name, shapes.ConceptNames())
}

// Prompt is one evaluation prompt: the concepts it asks for, left to right.
type Prompt struct {
	Concepts []EvalConcept
}

// N is the number of concepts the prompt asks for.
func (p Prompt) N() int { return len(p.Concepts) }

// phrase joins "a <word> <class>" phrases as the world's captions do: "a star",
// "a star and a ring", "a star, a ring and a square". word(c) is put before the class
// noun ("" for none).
func (p Prompt) phrase(word func(EvalConcept) string) string {
	parts := make([]string, len(p.Concepts))
	for i, c := range p.Concepts {
		w := "a "
		if s := word(c); s != "" {
			w += s + " "
		}
		parts[i] = w + c.Class.String()
	}
	switch len(parts) {
	case 1:
		return "a photo of " + parts[0]
	case 2:
		return parts[0] + " and " + parts[1]
	}
	return strings.Join(parts[:len(parts)-1], ", ") + " and " + parts[len(parts)-1]
}

// Plain is the prompt with plain class nouns, "a star and a ring": what the base model
// and LatexBlend (which writes the concepts' K/V into the "a star" slots) are given.
func (p Prompt) Plain() string { return p.phrase(func(EvalConcept) string { return "" }) }

// Modified is the prompt with each concept's modifier token before its noun,
// "a <new1> star and a <new2> ring": what the merged-weights baseline is given, as
// Custom Diffusion prompts concepts.
func (p Prompt) Modified() string { return p.phrase(func(c EvalConcept) string { return c.Token }) }

// Words is the prompt with each concept's texture adjective before its noun,
// "a checkered star and a rainbow ring": what the words reference method is given.
func (p Prompt) Words() string {
	return p.phrase(func(c EvalConcept) string { return shapes.TextureAdjective(c.Texture) })
}

// Name is a short label for tables and file names: the concept names joined by "+".
func (p Prompt) Name() string {
	names := make([]string, len(p.Concepts))
	for i, c := range p.Concepts {
		names[i] = c.Name
	}
	return strings.Join(names, "+")
}

// Classes are the classes the prompt asks for.
func (p Prompt) Classes() []shapes.Class {
	out := make([]shapes.Class, len(p.Concepts))
	for i, c := range p.Concepts {
		out[i] = c.Class
	}
	return out
}

// promptSets are the fixed evaluation prompts by concept name: each concept alone,
// four of the six pairs and all four triples (every concept appears equally often
// within each count).
var promptSets = [][]string{
	{"checker-star"}, {"rainbow-ring"}, {"dotted-square"}, {"striped-triangle"},
	{"checker-star", "rainbow-ring"}, {"dotted-square", "striped-triangle"},
	{"checker-star", "dotted-square"}, {"rainbow-ring", "striped-triangle"},
	{"checker-star", "rainbow-ring", "dotted-square"}, {"rainbow-ring", "dotted-square", "striped-triangle"},
	{"checker-star", "dotted-square", "striped-triangle"}, {"checker-star", "rainbow-ring", "striped-triangle"},
}

// Prompts returns the fixed evaluation prompts: 4 with one concept, 4 with two and 4
// with three.
func Prompts() []Prompt {
	out := make([]Prompt, len(promptSets))
	for i, names := range promptSets {
		for _, n := range names {
			c, err := LookupConcept(n)
			if err != nil {
				panic(err) // the table above names only world concepts
			}
			out[i].Concepts = append(out[i].Concepts, c)
		}
	}
	return out
}

// ConceptsOf lists the distinct concepts the prompts use, in Concepts order.
func ConceptsOf(prompts []Prompt) []EvalConcept {
	used := map[string]bool{}
	for _, p := range prompts {
		for _, c := range p.Concepts {
			used[c.Name] = true
		}
	}
	var out []EvalConcept
	for _, c := range Concepts() {
		if used[c.Name] {
			out = append(out, c)
		}
	}
	return out
}

// ParsePrompts selects evaluation prompts by name (Prompt.Name, e.g.
// "checker-star+rainbow-ring"), in the given order.
func ParsePrompts(names []string) ([]Prompt, error) {
	all := Prompts()
	var out []Prompt
	for _, n := range names {
		found := false
		for _, p := range all {
			if p.Name() == n {
				out = append(out, p)
				found = true
				break
			}
		}
		if !found {
			var have []string
			for _, p := range all {
				have = append(have, p.Name())
			}
			return nil, fmt.Errorf("eval: unknown prompt %q (have %s)", n, strings.Join(have, ", "))
		}
	}
	return out, nil
}

// OrdinalWords is the prompt the Ordinal method takes concept i's entry from: the
// concept in words after i plain objects of the classes the prompt does not ask for,
// in the world's class order ("a circle and a rainbow ring" for the second concept of
// "a star and a ring"). The causal text encoders then give its words the place they
// have in the prompt, without the other concepts' words.
func (p Prompt) OrdinalWords(i int) (string, error) {
	if i < 0 || i >= len(p.Concepts) {
		return "", fmt.Errorf("eval: concept %d of prompt %s, which has %d", i, p.Name(), len(p.Concepts))
	}
	asked := p.Classes()
	var q Prompt
	for c := shapes.Class(0); int(c) < shapes.NumClasses && len(q.Concepts) < i; c++ {
		if !slices.Contains(asked, c) {
			q.Concepts = append(q.Concepts, EvalConcept{Concept: shapes.Concept{Class: c}})
		}
	}
	if len(q.Concepts) < i {
		return "", fmt.Errorf("eval: prompt %s: too few other classes to put %d objects before concept %d", p.Name(), i, i)
	}
	q.Concepts = append(q.Concepts, p.Concepts[i])
	return q.Words(), nil
}
