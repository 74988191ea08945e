package blend

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/latexblend/latexblend/model/safetensors"
)

// EntryFormat is the __metadata__ "format" value of a concept entry file.
const EntryFormat = "latexblend.entry/v1"

// Metadata keys of an entry file. The coordinator's import validates the same keys
// (trainer.ParseEntry), so they are exported.
const (
	EntryKeyFormat      = "format"
	EntryKeyClassNoun   = "class_noun"
	EntryKeyModifier    = "modifier_token"
	EntryKeyNTok        = "n_tok"
	EntryKeyBaseModelID = "base_model_id"
	EntryKeyRecipe      = "recipe"
	EntryKeyCreated     = "created"
	// EntryKeyPlaces and EntryKeyPlacePrompts are optional: an entry with per-place
	// rows (see Entry.Places) records how many places it holds, place 1 included, and
	// the prompts places 2… were extracted from (a JSON list of strings).
	EntryKeyPlaces       = "places"
	EntryKeyPlacePrompts = "place_prompts"
)

const (
	metaFormat    = EntryKeyFormat
	metaClassNoun = EntryKeyClassNoun
	metaModifier  = EntryKeyModifier
	metaNTok      = EntryKeyNTok
	metaBaseModel = EntryKeyBaseModelID
	metaRecipe    = EntryKeyRecipe
	metaCreated   = EntryKeyCreated
)

// Entry is one concept of the bank: for every cross-attention (attn2) module the keys
// and values of the concept's [modifier, noun tokens] slot, computed once by the
// fine-tuned projections (concept-bank extraction, spec §2). The file stores, per
// module, tensors "<module path>.k" and "<module path>.v" of shape [NTok, C].
type Entry struct {
	ClassNoun     string // e.g. "dog"
	ModifierToken string // e.g. "<new1>" (informational: inference uses plain text)
	NTok          int    // tokens per slot: 1 (modifier) + the noun's tokens
	// BaseModel is the identity (diffusers.Identity) of the base model the entry was
	// extracted on; empty for entries converted from the reference's .pt banks.
	BaseModel string
	Recipe    string    // how the entry was made (free text or JSON)
	Created   time.Time // zero when unknown
	// Layers maps attn2 module paths to their rows: the bank entry proper, extracted
	// from a one-object concept prompt (place 1).
	Layers map[string]LayerKV
	// Places optionally holds the same rows extracted with the concept after other
	// objects: Places[k] for the concept's (k+2)-th place ("a circle and <new1> star"
	// gives place 2). In a causal text encoder the slot's rows carry which object of
	// the prompt they are; an entry from a one-object caption says "the first", and a
	// UNet that tells objects apart partly by that draws one concept twice. Blending
	// uses the rows of the concept's place among the prompt's concepts (LayersAt). The
	// file stores them as "place<k>.<module path>.k" / ".v"; nil for a plain entry.
	Places []map[string]LayerKV
	// PlacePrompts are the prompts Places were extracted from (informational).
	PlacePrompts []string
}

// LayerKV are one module's rows: K and V hold NTok×Channels values, row-major.
type LayerKV struct {
	Channels int
	K, V     []float32
}

// Modules returns the entry's module paths, sorted.
func (e *Entry) Modules() []string {
	out := make([]string, 0, len(e.Layers))
	for m := range e.Layers {
		out = append(out, m)
	}
	sort.Strings(out)
	return out
}

// ReadEntry reads and checks an entry file. F32 and F16 tensors are accepted (F16 is
// widened); every tensor must be "<module>.k" or "<module>.v" of shape [n_tok, C]
// with both present per module.
func ReadEntry(path string) (*Entry, error) {
	f, err := safetensors.Open(path)
	if err != nil {
		return nil, fmt.Errorf("blend: entry %s: %w", path, err)
	}
	defer f.Close()
	md := f.Metadata()
	if got := md[metaFormat]; got != EntryFormat {
		return nil, fmt.Errorf("blend: entry %s: __metadata__ format is %q, want %q", path, got, EntryFormat)
	}
	e := &Entry{
		ClassNoun:     md[metaClassNoun],
		ModifierToken: md[metaModifier],
		BaseModel:     md[metaBaseModel],
		Recipe:        md[metaRecipe],
		Layers:        map[string]LayerKV{},
	}
	if strings.TrimSpace(e.ClassNoun) == "" {
		return nil, fmt.Errorf("blend: entry %s: __metadata__ has no %s", path, metaClassNoun)
	}
	if e.NTok, err = strconv.Atoi(md[metaNTok]); err != nil || e.NTok < 1 {
		return nil, fmt.Errorf("blend: entry %s: __metadata__ %s is %q, want a positive integer", path, metaNTok, md[metaNTok])
	}
	if c := md[metaCreated]; c != "" {
		if e.Created, err = time.Parse(time.RFC3339, c); err != nil {
			return nil, fmt.Errorf("blend: entry %s: __metadata__ %s %q is not an RFC 3339 time", path, metaCreated, c)
		}
	}
	places, err := PlacesOf(md)
	if err != nil {
		return nil, fmt.Errorf("blend: entry %s: %w", path, err)
	}
	for range places - 1 {
		e.Places = append(e.Places, map[string]LayerKV{})
	}
	if v := md[EntryKeyPlacePrompts]; v != "" {
		if err := json.Unmarshal([]byte(v), &e.PlacePrompts); err != nil {
			return nil, fmt.Errorf("blend: entry %s: __metadata__ %s is not a JSON list of strings: %w", path, EntryKeyPlacePrompts, err)
		}
	}
	for _, info := range f.Tensors() {
		place, name, err := splitPlace(info.Name, places)
		if err != nil {
			return nil, fmt.Errorf("blend: entry %s: tensor %q: %w", path, info.Name, err)
		}
		module, what, ok := splitKVName(name)
		if !ok {
			return nil, fmt.Errorf("blend: entry %s: tensor %q is not named <attn2 module>.k or .v (or place<k>.<attn2 module>.k or .v)", path, info.Name)
		}
		if info.DType != safetensors.F32 && info.DType != safetensors.F16 {
			return nil, fmt.Errorf("blend: entry %s: tensor %q is %s, want F32 or F16", path, info.Name, info.DType)
		}
		if len(info.Shape) != 2 || info.Shape[0] != e.NTok || info.Shape[1] < 1 {
			return nil, fmt.Errorf("blend: entry %s: tensor %q has shape %v, want [%d, C] (n_tok=%d)", path, info.Name, info.Shape, e.NTok, e.NTok)
		}
		data, _, err := f.Float32(info.Name)
		if err != nil {
			return nil, fmt.Errorf("blend: entry %s: %w", path, err)
		}
		layers := e.Layers
		if place > 1 {
			layers = e.Places[place-2]
		}
		l := layers[module]
		if l.Channels != 0 && l.Channels != info.Shape[1] {
			return nil, fmt.Errorf("blend: entry %s: %s.k and %s.v have different widths", path, module, module)
		}
		l.Channels = info.Shape[1]
		if what == "k" {
			l.K = data
		} else {
			l.V = data
		}
		layers[module] = l
	}
	if len(e.Layers) == 0 {
		return nil, fmt.Errorf("blend: entry %s holds no tensors", path)
	}
	for _, m := range e.Modules() {
		if l := e.Layers[m]; l.K == nil || l.V == nil {
			return nil, fmt.Errorf("blend: entry %s: module %s has only one of .k and .v", path, m)
		}
	}
	if err := e.checkPlaces(); err != nil {
		return nil, fmt.Errorf("blend: entry %s: %w", path, err)
	}
	return e, nil
}

func splitKVName(name string) (module, what string, ok bool) {
	i := strings.LastIndexByte(name, '.')
	if i <= 0 {
		return "", "", false
	}
	module, what = name[:i], name[i+1:]
	return module, what, what == "k" || what == "v"
}

// WriteEntry writes e as a float32 entry file (atomically). The trainer's extraction
// and the .pt converter produce entries through it.
func WriteEntry(path string, e *Entry) error {
	ts, md, err := e.file()
	if err != nil {
		return fmt.Errorf("blend: writing entry %s: %w", path, err)
	}
	if err := safetensors.WriteFile(path, ts, md); err != nil {
		return fmt.Errorf("blend: writing entry %s: %w", path, err)
	}
	return nil
}

// EncodeEntry returns the bytes of e's entry file, as WriteEntry would write them, for
// entries that go to the concept bank's object store.
func EncodeEntry(e *Entry) ([]byte, error) {
	ts, md, err := e.file()
	if err != nil {
		return nil, fmt.Errorf("blend: encoding entry: %w", err)
	}
	b, err := safetensors.Marshal(ts, md)
	if err != nil {
		return nil, fmt.Errorf("blend: encoding entry: %w", err)
	}
	return b, nil
}

// file lays e out as safetensors tensors and metadata.
func (e *Entry) file() ([]safetensors.Tensor, map[string]string, error) {
	if err := e.checkShape(); err != nil {
		return nil, nil, err
	}
	var ts []safetensors.Tensor
	for _, m := range e.Modules() {
		l := e.Layers[m]
		ts = append(ts,
			safetensors.Tensor{Name: m + ".k", Shape: []int{e.NTok, l.Channels}, F32: l.K},
			safetensors.Tensor{Name: m + ".v", Shape: []int{e.NTok, l.Channels}, F32: l.V})
		for i, layers := range e.Places {
			pl, pre := layers[m], fmt.Sprintf("%s%d.%s", placePrefix, i+2, m)
			ts = append(ts,
				safetensors.Tensor{Name: pre + ".k", Shape: []int{e.NTok, pl.Channels}, F32: pl.K},
				safetensors.Tensor{Name: pre + ".v", Shape: []int{e.NTok, pl.Channels}, F32: pl.V})
		}
	}
	md := map[string]string{
		metaFormat:    EntryFormat,
		metaClassNoun: e.ClassNoun,
		metaModifier:  e.ModifierToken,
		metaNTok:      strconv.Itoa(e.NTok),
		metaBaseModel: e.BaseModel,
		metaRecipe:    e.Recipe,
	}
	if !e.Created.IsZero() {
		md[metaCreated] = e.Created.UTC().Format(time.RFC3339)
	}
	if len(e.Places) > 0 {
		md[EntryKeyPlaces] = strconv.Itoa(e.NumPlaces())
		if len(e.PlacePrompts) > 0 {
			// Without HTML escaping, so "<new1>" reads as itself in the header.
			var b strings.Builder
			enc := json.NewEncoder(&b)
			enc.SetEscapeHTML(false)
			if err := enc.Encode(e.PlacePrompts); err != nil {
				return nil, nil, err
			}
			md[EntryKeyPlacePrompts] = strings.TrimSuffix(b.String(), "\n")
		}
	}
	return ts, md, nil
}

// checkShape checks the entry's own consistency.
func (e *Entry) checkShape() error {
	if strings.TrimSpace(e.ClassNoun) == "" {
		return fmt.Errorf("the entry has no class noun")
	}
	if e.NTok < 1 {
		return fmt.Errorf("n_tok is %d, want ≥ 1", e.NTok)
	}
	if len(e.Layers) == 0 {
		return fmt.Errorf("the entry has no layers")
	}
	for _, m := range e.Modules() {
		l := e.Layers[m]
		n := e.NTok * l.Channels
		if l.Channels < 1 || len(l.K) != n || len(l.V) != n {
			return fmt.Errorf("module %s: k has %d values and v %d, want n_tok×C = %d×%d", m, len(l.K), len(l.V), e.NTok, l.Channels)
		}
	}
	if e.NumPlaces() > MaxPlaces {
		return fmt.Errorf("%d places, at most %d", e.NumPlaces(), MaxPlaces)
	}
	return e.checkPlaces()
}

// ModelSpec is what an entry must match: the base model's identity and the width of
// each of its cross-attention modules.
type ModelSpec struct {
	Identity string         // diffusers.Identity of the loaded base model ("" skips the check)
	Channels map[string]int // attn2 module path → C
}

// Check refuses an entry made for another base model or whose modules or widths differ
// from the model's. An entry without a recorded base model (converted from a reference
// .pt bank) is checked on its layers only.
func (e *Entry) Check(m ModelSpec) error {
	if err := e.checkShape(); err != nil {
		return fmt.Errorf("blend: entry %q: %w", e.ClassNoun, err)
	}
	if e.BaseModel != "" && m.Identity != "" && e.BaseModel != m.Identity {
		return fmt.Errorf("blend: entry %q was extracted on base model %s, but the loaded model is %s", e.ClassNoun, short(e.BaseModel), short(m.Identity))
	}
	var missing, extra, wrong []string
	for mod, c := range m.Channels {
		l, ok := e.Layers[mod]
		switch {
		case !ok:
			missing = append(missing, mod)
		case l.Channels != c:
			wrong = append(wrong, fmt.Sprintf("%s has C=%d, the model %d", mod, l.Channels, c))
		}
	}
	for mod := range e.Layers {
		if _, ok := m.Channels[mod]; !ok {
			extra = append(extra, mod)
		}
	}
	sort.Strings(missing)
	sort.Strings(extra)
	sort.Strings(wrong)
	var probs []string
	if len(missing) > 0 {
		probs = append(probs, fmt.Sprintf("%d model attn2 modules missing (first %s)", len(missing), missing[0]))
	}
	if len(extra) > 0 {
		probs = append(probs, fmt.Sprintf("%d modules the model does not have (first %s)", len(extra), extra[0]))
	}
	if len(wrong) > 0 {
		probs = append(probs, fmt.Sprintf("%d widths differ (first %s)", len(wrong), wrong[0]))
	}
	if len(probs) > 0 {
		return fmt.Errorf("blend: entry %q does not fit the loaded model: %s", e.ClassNoun, strings.Join(probs, "; "))
	}
	return nil
}

func short(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}
