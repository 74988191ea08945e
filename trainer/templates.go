package trainer

import (
	"fmt"
	"slices"
	"strings"

	"github.com/latexblend/latexblend/model/clip"
)

// Prompts are one instance sample's three prompts: the templated instance prompt with
// the modifier token, the class prompt for its prior image, and the templated replace
// prompt of the base flow (template drawn independently of the instance's).
type Prompts struct {
	Instance, Class, Replace string
}

// FlowPositions locate the concept tokens for the base-flow splice, in full-sequence
// coordinates (BOS at 0): the instance prompt's "<new1> noun" occupies
// [InsStart, InsEnd) and the replace prompt's "a noun" [ReplaceStart, ReplaceEnd).
type FlowPositions struct {
	InsStart, InsEnd, ReplaceStart, ReplaceEnd int
}

// instanceText is the text a template is filled with for the instance prompt.
func (r Recipe) instanceText() string { return r.ModifierToken + " " + r.ClassNoun }

// replaceText is the text of the replace prompt's slot ("a dog").
func (r Recipe) replaceText() string { return DefaultReplaceArticle + " " + r.ClassNoun }

// fill puts s into template t.
func fill(t, s string) string { return strings.Replace(t, "{}", s, 1) }

// flowPositions finds the concept slots of one instance/replace prompt pair. The
// reference takes ins_start at <new1>, ins_end at the first EOS, replace_end at the
// replace prompt's EOS and replace_start = replace_end - (ins_end - ins_start), which
// presumes the concept ends the prompt; here the slots are found from the template's
// prefix instead, which gives the same positions for the reference templates and also
// works for templates with text after "{}". The ids are checked against the expected
// tokens, so a template whose prefix merges with the slot is reported.
func flowPositions(tok *clip.Tokenizer, r Recipe, insTemplate, repTemplate string, modifierID int) (FlowPositions, error) {
	noun := tok.Encode(r.ClassNoun)
	n := 1 + len(noun)
	var p FlowPositions
	insIDs := tok.EncodePadded(fill(insTemplate, r.instanceText()))
	p.InsStart = 1 + len(tok.Encode(strings.SplitN(insTemplate, "{}", 2)[0]))
	p.InsEnd = p.InsStart + n
	want := append([]int{modifierID}, noun...)
	if p.InsEnd > len(insIDs) || !slices.Equal(insIDs[p.InsStart:p.InsEnd], want) {
		return p, fmt.Errorf("template %q: the instance prompt's tokens do not hold %q at positions %d..%d", insTemplate, r.instanceText(), p.InsStart, p.InsEnd-1)
	}
	repIDs := tok.EncodePadded(fill(repTemplate, r.replaceText()))
	p.ReplaceStart = 1 + len(tok.Encode(strings.SplitN(repTemplate, "{}", 2)[0]))
	p.ReplaceEnd = p.ReplaceStart + n
	want = tok.Encode(r.replaceText())
	if p.ReplaceEnd > len(repIDs) || !slices.Equal(repIDs[p.ReplaceStart:p.ReplaceEnd], want) {
		return p, fmt.Errorf("template %q: the replace prompt's tokens do not hold %q at positions %d..%d", repTemplate, r.replaceText(), p.ReplaceStart, p.ReplaceEnd-1)
	}
	return p, nil
}

// checkTemplates verifies every template pair once, before training starts.
func checkTemplates(tok *clip.Tokenizer, r Recipe, modifierID int) error {
	if len(tok.Encode(r.replaceText())) != 1+len(tok.Encode(r.ClassNoun)) {
		return fmt.Errorf("class noun %q: %q does not tokenize as the article plus the noun's tokens", r.ClassNoun, r.replaceText())
	}
	for _, t := range r.Templates {
		if _, err := flowPositions(tok, r, t, t, modifierID); err != nil {
			return err
		}
	}
	return nil
}
