package eval

import (
	"fmt"

	"github.com/latexblend/latexblend/blend"
	"github.com/latexblend/latexblend/shapes"
)

// Method is one way of generating an evaluation prompt.
type Method string

// The compared methods. The LatexBlend options accumulate: rectify is replacement +
// blending guidance + rectification.
const (
	// Base is the base model alone on the plain prompt ("a star and a ring").
	Base Method = "base"
	// Words is the base model told each concept's texture in words ("a checkered star
	// and a rainbow ring"). It needs no concept entry: it shows how well the base model
	// itself puts two or three textures each on its own object, which bounds what any
	// method that keeps this base model's cross-attention can reach.
	Words Method = "words"
	// Oracle is Replace with perfect entries: each concept's entry is the base model's
	// own K/V of its texture word and noun in "photo of checkered star"
	// (trainer.WordsEntry), what a perfectly onboarded concept would give. Between
	// Words and Replace it separates what the base model allows from what onboarding
	// loses.
	Oracle Method = "oracle"
	// Context is Oracle with each entry taken from the Words prompt itself ("checkered
	// star" and "rainbow ring" from "a checkered star and a rainbow ring",
	// trainer.WordsEntryIn), so an entry keeps the context it has there: which object
	// it is, after which others. No bank entry can have that (an entry is extracted once,
	// from a one-object caption), so Context is a diagnostic, not a method: between
	// Oracle and Words it shows what taking entries out of their context costs. It is
	// not run by default.
	Context Method = "context"
	// Ordinal is Oracle with each entry taken from a prompt that puts as many plain
	// objects of other classes before the concept's words as the concept has before it
	// in the prompt ("a circle and a rainbow ring" for the ring of "a star and a ring";
	// OrdinalWords). Unlike Context it needs nothing of the prompt but the concept's
	// place, so a concept bank could hold such entries, one per place. A diagnostic,
	// not run by default.
	Ordinal Method = "ordinal"
	// Replace is LatexBlend's K/V replacement (option 1) on the plain prompt; the bind
	// trick only with Config.Binding.
	Replace Method = "replace"
	// Guidance adds blending guidance (option 2) to Replace.
	Guidance Method = "guidance"
	// Rectify adds self-attention rectification (option 3) to Guidance.
	Rectify Method = "rectify"
	// Places is Replace with entries that also hold per-place rows (blend.Entry.Places):
	// extracted from each concept's delta for places 1 to 3, place k from the concept
	// after k−1 plain objects of the world's other classes (PlaceFillers), so each
	// concept gets the rows of its place in the prompt. It is Ordinal made with the
	// trained concepts instead of the texture words, and an extension of the
	// reference's bank; not run by default.
	Places Method = "places"
	// Merged is the Custom Diffusion baseline: the prompt's concepts' fine-tuned
	// to_k/to_v averaged into the model, prompted with their modifier tokens
	// ("a <new1> star and a <new2> ring").
	Merged Method = "merged"
)

// Methods lists the methods run by default, in report order.
func Methods() []Method { return []Method{Base, Words, Oracle, Replace, Guidance, Rectify, Merged} }

// AllMethods lists every method ParseMethod accepts: Methods and the diagnostics run
// only when asked for (Context, Ordinal) and the Places extension.
func AllMethods() []Method { return append(Methods(), Context, Ordinal, Places) }

// ParseMethod returns the method with the given name.
func ParseMethod(s string) (Method, error) {
	for _, m := range AllMethods() {
		if string(m) == s {
			return m, nil
		}
	}
	return "", fmt.Errorf("eval: unknown method %q (have %v)", s, AllMethods())
}

// needsEntries reports whether the method uses the eval concepts' trained entries or
// deltas (base, words and oracle need none, so they run on any base model).
func (m Method) needsEntries() bool {
	return m == Replace || m == Guidance || m == Rectify || m == Merged || m == Places
}

// blends reports whether the method runs LatexBlend.
func (m Method) blends() bool {
	return m == Oracle || m == Context || m == Ordinal || m == Replace || m == Guidance || m == Rectify || m == Places
}

// PlaceFillers are the plain nouns the Places method puts before a concept of class c
// for its later places: the world's other classes, in class order, n of them.
func PlaceFillers(c shapes.Class, n int) []string {
	var out []string
	for o := shapes.Class(0); int(o) < shapes.NumClasses && len(out) < n; o++ {
		if o != c {
			out = append(out, o.String())
		}
	}
	return out
}

// blendOptions are the LatexBlend options of a blending method for a run of steps
// denoising steps: the reference's settings (blending_start 0.9, fixed objective),
// with blending guidance over the first fifth of the steps (the reference's 20 of 100)
// and rectification saved at int(0.15·steps) (start 0.85). The bind trick is on only
// with binding (Config.Binding).
func (m Method) blendOptions(steps int, seed uint64, binding bool) blend.Options {
	o := blend.DefaultOptions()
	o.Seed = seed
	o.NoBinding = !binding
	if m == Guidance || m == Rectify {
		o.Guidance = true
		o.GuidanceSteps = max(1, steps/5)
	}
	if m == Rectify {
		o.Rectification = true
	}
	return o
}
