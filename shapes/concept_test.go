package shapes

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestConceptSets(t *testing.T) {
	seen := map[Class]bool{}
	for _, c := range Concepts {
		if seen[c.Class] {
			t.Errorf("two concepts of class %v", c.Class)
		}
		seen[c.Class] = true
		set, err := ConceptSet(c.Name, ConceptImages, DefaultSize)
		if err != nil {
			t.Fatal(err)
		}
		if len(set) != ConceptImages {
			t.Fatalf("%s: %d images, want %d", c.Name, len(set), ConceptImages)
		}
		for _, s := range set {
			if len(s.Scene.Objects) != 1 || s.Scene.Objects[0].Class != c.Class || s.Scene.Objects[0].Texture != c.Texture {
				t.Fatalf("%s/%s: objects %+v, want one %v %v", c.Name, s.Name, s.Scene.Objects, c.Texture, c.Class)
			}
			if want := "photo of a <new1> " + c.Class.String(); s.Caption != want {
				t.Fatalf("%s/%s: caption %q, want %q", c.Name, s.Name, s.Caption, want)
			}
		}
	}
	if len(Concepts) < 4 {
		t.Fatalf("%d concepts, want 4+", len(Concepts))
	}
	if _, err := ConceptSet("plaid-heart", 3, 64); err == nil || !strings.Contains(err.Error(), "plaid-heart") {
		t.Fatalf("unknown concept: err = %v", err)
	}
}

func TestRegSetIsBareClass(t *testing.T) {
	set, err := RegSet(Star, 20, 0, 32)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range set {
		o := s.Scene.Objects[0]
		if len(s.Scene.Objects) != 1 || o.Class != Star || o.Texture != Plain {
			t.Fatalf("%s: objects %+v, want one plain star", s.Name, s.Scene.Objects)
		}
		if !strings.HasSuffix(s.Caption, Describe(o)) && !strings.HasSuffix(s.Caption, "a star") {
			t.Fatalf("%s: caption %q does not end in %q or %q", s.Name, s.Caption, Describe(o), "a star")
		}
	}
	if _, err := RegSet(Class(42), 1, 0, 32); err == nil {
		t.Fatal("RegSet of class 42 succeeded")
	}
}

func TestWriteSamples(t *testing.T) {
	set, err := Dataset(1, 3, 32)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := WriteSamples(dir, set); err != nil {
		t.Fatal(err)
	}
	for _, s := range set {
		txt, err := os.ReadFile(filepath.Join(dir, s.Name+".txt"))
		if err != nil || string(txt) != s.Caption+"\n" {
			t.Fatalf("%s.txt = %q, %v; want %q", s.Name, txt, err, s.Caption)
		}
		if _, err := os.Stat(filepath.Join(dir, s.Name+".png")); err != nil {
			t.Fatal(err)
		}
	}
	lines, err := os.ReadFile(filepath.Join(dir, ScenesFile))
	if err != nil || strings.Count(string(lines), "\n") != 3 || !strings.Contains(string(lines), `"class":`) {
		t.Fatalf("%s = %q, %v", ScenesFile, lines, err)
	}
}
