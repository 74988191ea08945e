package blend

// Per-place rows: an extension of the reference's concept bank.
//
// An entry is extracted from a one-object concept prompt ("photo of <new1> star"). In
// a causal text encoder the slot's rows then also say "the first object of the
// prompt", and a base model that tells objects apart partly by their place draws, for
// "a star and a ring" with both slots replaced, one concept twice (measured in
// docs/eval.md, "What a one-object entry loses"). An entry may therefore hold the same
// rows extracted after k−1 plain objects ("a circle and <new1> star" for place 2), and
// a blend gives each concept the rows of its place among the prompt's concepts.

import (
	"fmt"
	"strconv"
	"strings"
)

// placePrefix starts the tensor names of places 2…: "place2.<module path>.k".
const placePrefix = "place"

// NumPlaces is the number of places the entry has rows for (1 for a plain entry).
func (e *Entry) NumPlaces() int { return 1 + len(e.Places) }

// LayersAt returns the rows for the concept's place among a prompt's objects (1 =
// first) and the place they were extracted for: the highest the entry holds that is
// not after place (place 1's rows for a plain entry).
func (e *Entry) LayersAt(place int) (map[string]LayerKV, int) {
	used := min(max(place, 1), e.NumPlaces())
	if used == 1 {
		return e.Layers, 1
	}
	return e.Places[used-2], used
}

// ConceptPlace is concept i's place among the concepts of a prompt, in reading order
// (1 for the slot that comes first).
func ConceptPlace(slots []Slot, i int) int {
	place := 1
	for _, s := range slots {
		if s.Start < slots[i].Start {
			place++
		}
	}
	return place
}

// MaxPlaces bounds the places an entry may hold, place 1 included (a prompt holds 77
// tokens, and a caption rarely names more objects).
const MaxPlaces = 16

// PlacesOf reads an entry header's place count (EntryKeyPlaces; 1 when absent). The
// entry reader and the coordinator's import check (trainer.ParseEntry) share it.
func PlacesOf(md map[string]string) (int, error) {
	v, ok := md[EntryKeyPlaces]
	if !ok {
		return 1, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > MaxPlaces {
		return 0, fmt.Errorf("__metadata__ %s is %q, want an integer in [1, %d]", EntryKeyPlaces, v, MaxPlaces)
	}
	return n, nil
}

// splitPlace splits "place<k>.<rest>" into k and rest; other names are place 1. k
// must be in [2, places].
func splitPlace(name string, places int) (int, string, error) {
	head, rest, ok := strings.Cut(name, ".")
	digits, isPlace := strings.CutPrefix(head, placePrefix)
	if !ok || !isPlace || digits == "" || strings.Trim(digits, "0123456789") != "" {
		return 1, name, nil
	}
	k, err := strconv.Atoi(digits)
	if err != nil || k < 2 || k > places || digits[0] == '0' {
		return 0, "", fmt.Errorf("place %s is not in [2, %d] (__metadata__ %s is %d)", digits, places, EntryKeyPlaces, places)
	}
	return k, rest, nil
}

// checkPlaces checks that every place holds exactly place 1's modules, each with
// both K and V of place 1's width.
func (e *Entry) checkPlaces() error {
	for i, layers := range e.Places {
		place := i + 2
		if len(layers) == 0 {
			return fmt.Errorf("place %d holds no tensors (the entry declares %d places)", place, e.NumPlaces())
		}
		for m, l := range layers {
			base, ok := e.Layers[m]
			switch {
			case !ok:
				return fmt.Errorf("place %d has module %s, which place 1 lacks", place, m)
			case l.Channels != base.Channels:
				return fmt.Errorf("place %d: module %s has C=%d, place 1 %d", place, m, l.Channels, base.Channels)
			case len(l.K) != e.NTok*l.Channels || len(l.V) != e.NTok*l.Channels:
				return fmt.Errorf("place %d: module %s has k of %d values and v of %d, want n_tok×C = %d×%d", place, m, len(l.K), len(l.V), e.NTok, l.Channels)
			}
		}
		for m := range e.Layers {
			if _, ok := layers[m]; !ok {
				return fmt.Errorf("place %d lacks module %s", place, m)
			}
		}
	}
	if len(e.PlacePrompts) > len(e.Places) {
		return fmt.Errorf("%d place prompts for %d extra places", len(e.PlacePrompts), len(e.Places))
	}
	return nil
}
