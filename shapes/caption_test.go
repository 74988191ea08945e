package shapes

import (
	"strings"
	"testing"
)

// TestCaptionsMatchObjects checks every caption of a base set against its scene: it
// names each object exactly once, as "<article> <colour> <class>", "<article>
// <texture adjective> <class>" or, for a plain object, "a <class>"; nothing else; and a
// stated relation holds between the two centres. Textures appear, never on their
// concept's class.
func TestCaptionsMatchObjects(t *testing.T) {
	ds, err := Dataset(11, 300, 32)
	if err != nil {
		t.Fatal(err)
	}
	counts := map[int]int{}
	relations, textured, bare := 0, 0, 0
	for _, s := range ds {
		counts[len(s.Scene.Objects)]++
		body := s.Caption
		for _, p := range captionPrefixes {
			if p != "" && strings.HasPrefix(body, p) {
				body = strings.TrimPrefix(body, p)
			}
		}
		rest := body
		for _, o := range s.Scene.Objects {
			if IsConcept(o.Class, o.Texture) {
				t.Fatalf("%s: base data shows a concept, a %v %v", s.Name, o.Texture, o.Class)
			}
			d := Describe(o)
			if o.Texture != Plain {
				textured++
			} else if strings.Count(body, d) == 0 {
				d = "a " + o.Class.String()
				bare++
			}
			if strings.Count(body, d) != 1 {
				t.Fatalf("%s: caption %q names %q %d times, want once", s.Name, s.Caption, d, strings.Count(body, d))
			}
			rest = strings.Replace(rest, d, "", 1)
		}
		rest = strings.Join(strings.Fields(strings.ReplaceAll(rest, ",", " ")), " ")
		switch rest {
		case "", "and":
		case "on the left of", "on the right of", "above", "below":
			relations++
			checkRelation(t, s, body, rest)
		default:
			t.Fatalf("%s: caption %q has unexplained words %q", s.Name, s.Caption, rest)
		}
	}
	for n := 1; n <= 3; n++ {
		if counts[n] < 40 {
			t.Errorf("%d scenes with %d objects out of 300, want 40+", counts[n], n)
		}
	}
	if textured < 100 || textured > 250 {
		t.Errorf("%d textured objects in 300 scenes, want about a third of ~555 objects", textured)
	}
	if bare < 60 || bare > 200 {
		t.Errorf("%d plain objects named by class alone in 300 scenes, want about a quarter", bare)
	}
	if relations < 15 {
		t.Errorf("%d captions with a spatial relation out of 300, want 15+", relations)
	}
}

// checkRelation verifies "A <rel> B" against the centres of A and B.
func checkRelation(t *testing.T, s Sample, body, rel string) {
	t.Helper()
	objs := s.Scene.Objects
	a, b := objs[0], objs[1]
	if nameIndex(body, b) < nameIndex(body, a) {
		a, b = b, a
	}
	var ok bool
	switch rel {
	case "on the left of":
		ok = a.X < b.X
	case "on the right of":
		ok = a.X > b.X
	case "above":
		ok = a.Y < b.Y
	case "below":
		ok = a.Y > b.Y
	}
	if !ok {
		t.Fatalf("%s: caption %q, but A=(%d,%d) B=(%d,%d)", s.Name, s.Caption, a.X, a.Y, b.X, b.Y)
	}
}

// nameIndex is where body names o, as Describe does or by its class alone.
func nameIndex(body string, o Object) int {
	if i := strings.Index(body, Describe(o)); i >= 0 {
		return i
	}
	return strings.Index(body, "a "+o.Class.String())
}

func TestDescribe(t *testing.T) {
	for _, tc := range []struct {
		o    Object
		want string
	}{
		{Object{Class: Circle, Color: 0}, "a red circle"},
		{Object{Class: Star, Color: 1}, "an orange star"},
		{Object{Class: Ring, Texture: Rainbow}, "a rainbow ring"},
		{Object{Class: Star, Texture: Checker}, "a checkered star"},
	} {
		if got := Describe(tc.o); got != tc.want {
			t.Errorf("Describe(%+v) = %q, want %q", tc.o, got, tc.want)
		}
	}
}

func TestObjectsDoNotOverlapAndStayInside(t *testing.T) {
	for i := 0; i < 500; i++ {
		s := MixedScene(NewRand(Derive(5, i)), PatternTextures(), 1, 2)
		for j, o := range s.Objects {
			if o.X-o.R < 0 || o.Y-o.R < 0 || o.X+o.R > SceneUnits || o.Y+o.R > SceneUnits {
				t.Fatalf("scene %d object %d %+v leaves the image", i, j, o)
			}
			for k := 0; k < j; k++ {
				p := s.Objects[k]
				if abs(o.X-p.X) < o.R+p.R && abs(o.Y-p.Y) < o.R+p.R {
					t.Fatalf("scene %d: objects %d and %d overlap: %+v %+v", i, k, j, p, o)
				}
				if p.Class == o.Class {
					t.Fatalf("scene %d: two objects of class %v", i, o.Class)
				}
			}
		}
	}
}

func TestTextureAdjective(t *testing.T) {
	for _, tc := range []struct {
		t    Texture
		want string
	}{{Plain, ""}, {Checker, "checkered"}, {Rainbow, "rainbow"}, {Dots, "dotted"}, {Stripes, "striped"}, {Texture(-1), ""}, {Texture(NumTextures), ""}} {
		if got := TextureAdjective(tc.t); got != tc.want {
			t.Errorf("TextureAdjective(%v) = %q, want %q", tc.t, got, tc.want)
		}
	}
	// Captions name a textured object with the same word.
	if got := Describe(Object{Class: Star, Texture: Checker}); got != "a "+TextureAdjective(Checker)+" star" {
		t.Errorf("Describe of a checkered star = %q", got)
	}
}
