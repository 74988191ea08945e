package clip

import (
	"strings"
)

// Encode returns the token ids of text without BOS, EOS, padding or truncation: added tokens
// matched as whole strings, and every other stretch fixed like ftfy (FixText),
// whitespace-collapsed, lowercased, pre-tokenised and BPE-merged. Invalid UTF-8 bytes count
// as U+FFFD.
func (t *Tokenizer) Encode(text string) []int {
	text = strings.ToValidUTF8(text, "\uFFFD")
	t.mu.RLock()
	defer t.mu.RUnlock()
	var ids []int
	for _, span := range t.splitAddedLocked(text) {
		if span.added {
			ids = append(ids, t.added[span.text])
			continue
		}
		for _, sym := range t.tokenizeText(span.text) {
			id, _ := t.lookupLocked(sym)
			ids = append(ids, id)
		}
	}
	return ids
}

// EncodePadded returns exactly MaxLength ids: BOS, Encode(text) truncated to MaxLength-2,
// EOS, then the pad id — tokenizer(text, padding="max_length", max_length=77,
// truncation=True).input_ids in transformers.
func (t *Tokenizer) EncodePadded(text string) []int {
	n := t.MaxLength()
	ids := t.Encode(text)
	if len(ids) > n-2 {
		ids = ids[:n-2]
	}
	out := make([]int, 0, n)
	out = append(out, t.bos)
	out = append(out, ids...)
	out = append(out, t.eos)
	for len(out) < n {
		out = append(out, t.pad)
	}
	return out
}

// Tokens returns the vocabulary symbols Encode would look up for text (added tokens as
// themselves), for debugging and comparison with other implementations.
func (t *Tokenizer) Tokens(text string) []string {
	text = strings.ToValidUTF8(text, "\uFFFD")
	t.mu.RLock()
	defer t.mu.RUnlock()
	var out []string
	for _, span := range t.splitAddedLocked(text) {
		if span.added {
			out = append(out, span.text)
			continue
		}
		out = append(out, t.tokenizeText(span.text)...)
	}
	return out
}

// tokenizeText turns ordinary text (no added tokens) into vocabulary symbols, like
// CLIPTokenizer._tokenize with ftfy installed.
func (t *Tokenizer) tokenizeText(text string) []string {
	text = lowerCaser.String(cleanWhitespace(FixText(text)))
	var out []string
	for _, piece := range pretokenize(text) {
		out = append(out, t.bpePiece(piece)...)
	}
	return out
}

// bpePiece returns the BPE symbols of one pre-token, cached. The literal special tokens
// pass through whole, as in the reference's pre-filled cache.
func (t *Tokenizer) bpePiece(piece string) []string {
	if piece == clipStartOfText || piece == clipEndOfText {
		return []string{piece}
	}
	if v, ok := t.cache.Load(piece); ok {
		return v.([]string)
	}
	syms := bpe(byteSymbolsOf(piece), t.ranks)
	t.cacheMu.Lock()
	if t.cacheSize < maxCachedPieces {
		if _, loaded := t.cache.LoadOrStore(piece, syms); !loaded {
			t.cacheSize++
		}
	}
	t.cacheMu.Unlock()
	return syms
}
