package blend

import (
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/latexblend/latexblend/model/safetensors"
	"github.com/latexblend/latexblend/model/sdxl"
)

// scaledLayers returns a copy of layers with every value multiplied by f, so that
// each place's rows are told apart.
func scaledLayers(layers map[string]LayerKV, f float32) map[string]LayerKV {
	out := map[string]LayerKV{}
	for m, l := range layers {
		c := LayerKV{Channels: l.Channels, K: slices.Clone(l.K), V: slices.Clone(l.V)}
		for i := range c.K {
			c.K[i] *= f
			c.V[i] *= f
		}
		out[m] = c
	}
	return out
}

func placedTestEntry() *Entry {
	e := testEntry()
	e.Places = []map[string]LayerKV{scaledLayers(e.Layers, 2), scaledLayers(e.Layers, 3)}
	e.PlacePrompts = []string{"a cat and <new1> dog", "a cat, a cow and <new1> dog"}
	return e
}

// TestEntryPlacesRoundTrip: per-place rows are written as place<k>.<module>.k/.v with
// the places count and prompts in the metadata, and read back as written.
func TestEntryPlacesRoundTrip(t *testing.T) {
	want := placedTestEntry()
	p, got := writeAndRead(t, want)
	if got.NumPlaces() != 3 || !slices.Equal(got.PlacePrompts, want.PlacePrompts) {
		t.Fatalf("places %d, prompts %q", got.NumPlaces(), got.PlacePrompts)
	}
	for k := 1; k <= 3; k++ {
		wl, _ := want.LayersAt(k)
		gl, used := got.LayersAt(k)
		if used != k {
			t.Errorf("LayersAt(%d) gave place %d", k, used)
		}
		checkLayers(t, fmt.Sprintf("place %d, ", k), gl, wl)
	}
	f, err := safetensors.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	names := f.Names()
	for _, n := range []string{"down.attn2.k", "place2.down.attn2.k", "place3.up.attn2.v"} {
		if !slices.Contains(names, n) {
			t.Errorf("tensor %s missing from %v", n, names)
		}
	}
	if md := f.Metadata(); md[EntryKeyPlaces] != "3" || !strings.Contains(md[EntryKeyPlacePrompts], "a cat and <new1> dog") {
		t.Errorf("metadata %v", md)
	}

	// A plain entry writes neither key, so its file is what it was before places.
	plain := filepath.Join(t.TempDir(), "plain.safetensors")
	if err := WriteEntry(plain, testEntry()); err != nil {
		t.Fatal(err)
	}
	pf, err := safetensors.Open(plain)
	if err != nil {
		t.Fatal(err)
	}
	defer pf.Close()
	if _, ok := pf.Metadata()[EntryKeyPlaces]; ok || len(pf.Names()) != 4 {
		t.Errorf("plain entry: metadata %v, tensors %v", pf.Metadata(), pf.Names())
	}
}

// TestLayersAt: a concept past the entry's last place gets the last place's rows; a
// plain entry gives place 1's everywhere.
func TestLayersAt(t *testing.T) {
	e := placedTestEntry()
	for _, tc := range []struct{ place, used int }{{0, 1}, {1, 1}, {2, 2}, {3, 3}, {7, 3}} {
		l, used := e.LayersAt(tc.place)
		want, _ := e.LayersAt(tc.used)
		if used != tc.used || !slices.Equal(l["down.attn2"].K, want["down.attn2"].K) {
			t.Errorf("LayersAt(%d) gave place %d, want %d", tc.place, used, tc.used)
		}
	}
	plain := testEntry()
	if l, used := plain.LayersAt(3); used != 1 || !slices.Equal(l["up.attn2"].V, plain.Layers["up.attn2"].V) {
		t.Errorf("plain entry: place %d", used)
	}
}

// TestConceptPlace: places follow the slots' reading order, not the concepts' order.
func TestConceptPlace(t *testing.T) {
	slots := []Slot{{Start: 9, End: 11}, {Start: 2, End: 4}, {Start: 5, End: 7}}
	for i, want := range []int{3, 1, 2} {
		if got := ConceptPlace(slots, i); got != want {
			t.Errorf("concept %d: place %d, want %d", i, got, want)
		}
	}
}

func TestEntryPlacesReadErrors(t *testing.T) {
	kv := zeroTensor
	md := func(places string) map[string]string {
		m := map[string]string{"format": EntryFormat, "class_noun": "cat", "n_tok": "2"}
		if places != "" {
			m[EntryKeyPlaces] = places
		}
		return m
	}
	base := []safetensors.Tensor{kv("m.k", 2, 3), kv("m.v", 2, 3)}
	with := func(extra ...safetensors.Tensor) []safetensors.Tensor { return append(slices.Clone(base), extra...) }
	for _, tc := range []struct {
		name string
		md   map[string]string
		ts   []safetensors.Tensor
		want string
	}{
		{"undeclared", md(""), with(kv("place2.m.k", 2, 3), kv("place2.m.v", 2, 3)), "place 2 is not in [2, 1]"},
		{"beyond", md("2"), with(kv("place2.m.k", 2, 3), kv("place2.m.v", 2, 3), kv("place3.m.k", 2, 3)), "place 3 is not in [2, 2]"},
		{"count", md("many"), base, `places is "many"`},
		{"too many", md("1000"), base, "want an integer in [1, 16]"},
		{"empty place", md("3"), with(kv("place2.m.k", 2, 3), kv("place2.m.v", 2, 3)), "place 3 holds no tensors"},
		{"extra module", md("2"), with(kv("place2.m.k", 2, 3), kv("place2.m.v", 2, 3), kv("place2.n.k", 2, 3), kv("place2.n.v", 2, 3)), "place 2 has module n, which place 1 lacks"},
		{"width", md("2"), with(kv("place2.m.k", 2, 4), kv("place2.m.v", 2, 4)), "place 2: module m has C=4, place 1 3"},
		{"half", md("2"), with(kv("place2.m.k", 2, 3)), "place 2: module m has k of 6 values and v of 0"},
		{"shape", md("2"), with(kv("place2.m.k", 3, 3), kv("place2.m.v", 3, 3)), "want [2, C]"},
		{"prompts", map[string]string{"format": EntryFormat, "class_noun": "cat", "n_tok": "2", EntryKeyPlaces: "2", EntryKeyPlacePrompts: "a cat"},
			with(kv("place2.m.k", 2, 3), kv("place2.m.v", 2, 3)), "not a JSON list"},
	} {
		t.Run(tc.name, func(t *testing.T) { checkReadError(t, tc.md, tc.ts, tc.want) })
	}
	// A module whose own path starts with "place" but not "place<digits>." is place 1's.
	p := filepath.Join(t.TempDir(), "e.safetensors")
	if err := safetensors.WriteFile(p, []safetensors.Tensor{kv("placement.k", 2, 3), kv("placement.v", 2, 3)}, md("")); err != nil {
		t.Fatal(err)
	}
	if e, err := ReadEntry(p); err != nil || !slices.Equal(e.Modules(), []string{"placement"}) {
		t.Errorf("module placement: %v, %v", e, err)
	}
	// Writing refuses an entry whose places do not match place 1.
	bad := placedTestEntry()
	delete(bad.Places[1], "up.attn2")
	if err := WriteEntry(filepath.Join(t.TempDir(), "bad.safetensors"), bad); err == nil || !strings.Contains(err.Error(), "place 3 lacks module up.attn2") {
		t.Errorf("writing a place without a module: %v", err)
	}
}

// TestPlacesBitwise: on the tiny SDXL, each concept of "a dog wearing a sunglasses"
// gets the rows of its place. The sunglasses (place 2) carry their own prompt rows
// only as place-2 rows and the dog (place 1) its own as place-1 rows; every other
// place holds other rows. With the bind trick off the output is the plain pipeline's
// bit for bit, and with NoPlaces (place 1's rows for both) it is not.
func TestPlacesBitwise(t *testing.T) {
	p := loadTiny(t)
	const prompt = "a dog wearing a sunglasses"
	slots, err := FindSlots(p.Prompt.Tokenizer, prompt, []string{"sunglasses", "dog"})
	if err != nil {
		t.Fatal(err)
	}
	glasses, dog := ownRowsEntry(t, p, prompt, slots[0]), ownRowsEntry(t, p, prompt, slots[1])
	own := maps.Clone(glasses.Layers)
	glasses.Layers = scaledLayers(own, 0.5)
	glasses.Places = []map[string]LayerKV{own, scaledLayers(own, 1.5)}
	dog.Places = []map[string]LayerKV{scaledLayers(dog.Layers, 2)}
	plain := generate(t, p, prompt, 3, sdxl.Hooks{})
	run := func(o Options) ([]float32, *Blender) {
		// Concepts in the order sunglasses, dog: the places come from the prompt.
		b, err := New(Setup{UNet: p.UNet, Tokenizer: p.Prompt.Tokenizer, Identity: p.Identity, Prompt: prompt,
			Concepts: []Concept{{ClassNoun: "sunglasses", Entry: glasses}, {ClassNoun: "dog", Entry: dog}}, Options: o})
		if err != nil {
			t.Fatal(err)
		}
		return generate(t, p, prompt, 3, b.Hooks(sdxl.Hooks{})), b
	}
	o := DefaultOptions()
	o.NoBinding = true
	got, b := run(o)
	if !slices.Equal(got, plain) {
		t.Error("each concept's own rows at its place changed the output")
	}
	if !slices.Equal(b.Places(), []int{2, 1}) {
		t.Errorf("places %v, want [2 1]", b.Places())
	}
	if md := b.Metadata(); md["concept1_place"] != "2" || md["concept2_place"] != "1" {
		t.Errorf("metadata %v", md)
	}
	o.NoPlaces = true
	got, b = run(o)
	if slices.Equal(got, plain) {
		t.Error("NoPlaces still used the place-2 rows")
	}
	if !slices.Equal(b.Places(), []int{1, 1}) || b.Metadata()["places"] != "off" {
		t.Errorf("NoPlaces: places %v, metadata %v", b.Places(), b.Metadata())
	}
}
