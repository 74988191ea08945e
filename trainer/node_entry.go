package trainer

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"

	"github.com/latexblend/latexblend/blend"
	"github.com/latexblend/latexblend/model/safetensors"
)

// Concept entry metadata (the safetensors "__metadata__" of a latexblend.entry/v1 file);
// the format itself is blend's.
const (
	EntryFormat         = blend.EntryFormat
	EntryKeyFormat      = blend.EntryKeyFormat
	EntryKeyClassNoun   = blend.EntryKeyClassNoun
	EntryKeyModifier    = blend.EntryKeyModifier
	EntryKeyNTok        = blend.EntryKeyNTok
	EntryKeyBaseModelID = blend.EntryKeyBaseModelID
	EntryKeyRecipe      = blend.EntryKeyRecipe
	EntryKeyCreated     = blend.EntryKeyCreated
)

// EntryInfo is what the bank records about a concept entry, read from its header.
type EntryInfo struct {
	ClassNoun     string
	ModifierToken string
	NTok          int
	BaseModelID   string
	Recipe        string
	// Layers counts the attn2 layers (place 1's K/V pairs); Places the places the
	// entry holds rows for (1 unless it has per-place rows, blend.Entry.Places).
	Layers, Places int
}

// ParseEntry checks that b is a concept entry: a safetensors file whose metadata says
// format latexblend.entry/v1 with class noun, modifier token, n_tok and base model
// identity, and whose tensors are F32 pairs "<layer>.k" / "<layer>.v" of shape
// [n_tok, C]. The error names the key or tensor that is wrong.
func ParseEntry(b []byte) (EntryInfo, error) {
	var e EntryInfo
	h, err := safetensors.ParseHeader(b)
	if err != nil {
		return e, fmt.Errorf("concept entry: %w", err)
	}
	md := h.Metadata
	if f := md[EntryKeyFormat]; f != EntryFormat {
		return e, fmt.Errorf("concept entry: __metadata__ %q is %q, want %q", EntryKeyFormat, f, EntryFormat)
	}
	for _, k := range []string{EntryKeyClassNoun, EntryKeyModifier, EntryKeyNTok, EntryKeyBaseModelID} {
		if md[k] == "" {
			return e, fmt.Errorf("concept entry: __metadata__ lacks %q", k)
		}
	}
	e.ClassNoun, e.ModifierToken, e.BaseModelID, e.Recipe = md[EntryKeyClassNoun], md[EntryKeyModifier], md[EntryKeyBaseModelID], md[EntryKeyRecipe]
	if e.NTok, err = strconv.Atoi(md[EntryKeyNTok]); err != nil || e.NTok < 1 || e.NTok > 77 {
		return e, fmt.Errorf("concept entry: __metadata__ %q = %q is not a token count in 1..77", EntryKeyNTok, md[EntryKeyNTok])
	}
	if len(h.Tensors) == 0 {
		return e, fmt.Errorf("concept entry: no tensors")
	}
	shapes := map[string][]int{}
	for _, t := range h.Tensors {
		if t.DType != safetensors.F32 {
			return e, fmt.Errorf("concept entry: tensor %q is %s, want F32", t.Name, t.DType)
		}
		if !strings.HasSuffix(t.Name, ".k") && !strings.HasSuffix(t.Name, ".v") {
			return e, fmt.Errorf("concept entry: tensor %q is not named <layer>.k or <layer>.v", t.Name)
		}
		if len(t.Shape) != 2 || t.Shape[0] != e.NTok || t.Shape[1] < 1 {
			return e, fmt.Errorf("concept entry: tensor %q has shape %v, want [%d, C]", t.Name, t.Shape, e.NTok)
		}
		shapes[t.Name] = t.Shape
	}
	for name, s := range shapes {
		layer := name[:len(name)-2]
		other := layer + ".v"
		if strings.HasSuffix(name, ".v") {
			other = layer + ".k"
		}
		o, ok := shapes[other]
		if !ok {
			return e, fmt.Errorf("concept entry: tensor %q has no partner %q", name, other)
		}
		if o[1] != s[1] {
			return e, fmt.Errorf("concept entry: tensors %q %v and %q %v differ in width", name, s, other, o)
		}
	}
	if e.Places, err = blend.PlacesOf(md); err != nil {
		return e, fmt.Errorf("concept entry: %w", err)
	}
	if len(shapes)%(2*e.Places) != 0 {
		return e, fmt.Errorf("concept entry: %d tensors do not split into %d places of K/V pairs", len(shapes), e.Places)
	}
	e.Layers = len(shapes) / (2 * e.Places)
	return e, nil
}

// Digest is the API's digest of b: "sha256:" + lowercase hex.
func Digest(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}
