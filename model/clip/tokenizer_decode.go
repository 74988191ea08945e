package clip

import (
	"fmt"
	"strings"
)

// TokenString returns the vocabulary symbol or added token of id ("dog</w>", "<new1>").
func (t *Tokenizer) TokenString(id int) (string, bool) {
	if s, ok := t.tokens[id]; ok {
		return s, true
	}
	t.mu.RLock()
	defer t.mu.RUnlock()
	if i := id - len(t.vocab); i >= 0 && i < len(t.addedList) {
		return t.addedList[i], true
	}
	return "", false
}

// Decode turns ids back into text for debugging: vocabulary symbols are mapped back to
// bytes with "</w>" read as a space, added tokens are kept literally and set off by spaces,
// and invalid UTF-8 becomes U+FFFD. Text fixing and lowercasing cannot be undone, and
// special tokens are kept.
func (t *Tokenizer) Decode(ids []int) (string, error) {
	var parts []string
	var run strings.Builder
	flush := func() {
		if run.Len() == 0 {
			return
		}
		var raw []byte
		for _, r := range run.String() {
			if b, ok := symbolBytes[r]; ok {
				raw = append(raw, b)
			} else {
				raw = append(raw, string(r)...)
			}
		}
		run.Reset()
		s := strings.ToValidUTF8(string(raw), "\uFFFD")
		if s = strings.TrimSpace(strings.ReplaceAll(s, endOfWord, " ")); s != "" {
			parts = append(parts, s)
		}
	}
	for _, id := range ids {
		tok, ok := t.TokenString(id)
		if !ok {
			return "", fmt.Errorf("clip: decode: id %d is neither in %s nor an added token (Len %d)", id, vocabFile, t.Len())
		}
		if id >= len(t.vocab) {
			flush()
			parts = append(parts, tok)
			continue
		}
		run.WriteString(tok)
	}
	flush()
	return strings.Join(parts, " "), nil
}
