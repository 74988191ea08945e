package shapes

import (
	"strings"
	"testing"
)

func TestConceptScene(t *testing.T) {
	var star, ring, square Concept
	for _, c := range Concepts {
		switch c.Name {
		case "checker-star":
			star = c
		case "rainbow-ring":
			ring = c
		case "dotted-square":
			square = c
		}
	}
	for _, cs := range [][]Concept{{star}, {star, ring}, {star, ring, square}} {
		for i := range 20 {
			s, err := ConceptScene(NewRand(Derive(7, i)), cs)
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Validate(); err != nil {
				t.Fatal(err)
			}
			if len(s.Objects) != len(cs) {
				t.Fatalf("%d objects for %d concepts", len(s.Objects), len(cs))
			}
			lo, hi := sizeRange(len(cs))
			for k, o := range s.Objects {
				if o.Class != cs[k].Class || o.Texture != cs[k].Texture {
					t.Errorf("object %d is a %s %s, want %s", k, o.Texture, o.Class, cs[k].Name)
				}
				if o.R > hi || o.R < min(lo, 64) {
					t.Errorf("object %d half-size %d outside [%d, %d] of a %d-object scene", k, o.R, lo, hi, len(cs))
				}
				for _, p := range s.Objects[:k] {
					if abs(o.X-p.X) < o.R+p.R+gap && abs(o.Y-p.Y) < o.R+p.R+gap {
						t.Errorf("objects overlap: %+v and %+v", p, o)
					}
				}
			}
			again, _ := ConceptScene(NewRand(Derive(7, i)), cs)
			if again.Background != s.Background || again.Objects[0] != s.Objects[0] {
				t.Error("the same stream gave another scene")
			}
		}
	}
	for _, tc := range []struct {
		cs   []Concept
		want string
	}{
		{nil, "no concepts"},
		{[]Concept{{Name: "plain-star", Class: Star, Texture: Plain}}, "not a concept"},
		{[]Concept{star, star}, "two concepts of class star"},
	} {
		if _, err := ConceptScene(NewRand(1), tc.cs); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ConceptScene(%v) error %v, want one containing %q", tc.cs, err, tc.want)
		}
	}
}
