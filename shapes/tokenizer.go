package shapes

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// The world's tokenizer is a CLIP byte-level BPE vocabulary (the vocab.json + merges.txt
// files of a Hugging Face CLIPTokenizer) learned from the world's own words instead of
// OpenAI's 49,408-entry one. Its layout follows CLIP: the 256 byte symbols, the same with
// "</w>", one entry per merge, then <|startoftext|> and <|endoftext|> as the two highest
// ids (text encoders pool at the highest id, the EOS). Every byte has a symbol, so any
// text still tokenizes; the world's words are one token each.

// Special tokens, as in CLIP.
const (
	StartOfText = "<|startoftext|>"
	EndOfText   = "<|endoftext|>"
)

// extraWords are words beyond those the captions use: Custom Diffusion's prompt
// templates, words of concept descriptions, plurals and a few common prompt words, plus
// rare strings used to initialise modifier tokens (ktn, pll, ucd, sks as in the papers).
var extraWords = []string{
	"photo", "picture", "image", "fancy", "close", "up", "detailed", "of", "a", "an", "the",
	"on", "in", "at", "to", "with", "and", "next", "front", "left", "right", "above", "below",
	"top", "bottom", "middle", "center", "is", "are", "there", "one", "two", "three", "small",
	"large", "big", "tiny", "background", "plain", "gradient", "pattern", "texture", "painted",
	"vertical", "horizontal", "diagonal", "checkerboard", "stripes", "dots", "polka", "spots",
	"black", "white", "grey", "gray", "pink", "magenta", "teal", "brown", "colorful",
	"circles", "squares", "triangles", "stars", "rings", "crosses", "shape", "shapes", "object",
	"ktn", "pll", "ucd", "sks", "new",
}

// TokenizerWords returns the words the tokenizer keeps whole, sorted: every word of the
// captions, concept descriptions and prompt templates.
func TokenizerWords() []string {
	set := map[string]bool{}
	add := func(text string) {
		for _, w := range strings.FieldsFunc(text, func(r rune) bool { return r < 'a' || r > 'z' }) {
			set[w] = true
		}
	}
	for _, w := range extraWords {
		add(w)
	}
	for _, c := range Colors {
		add(c.Name)
	}
	for _, c := range Classes() {
		add(c.String())
	}
	for _, a := range textureAdjective {
		add(a)
	}
	for _, p := range captionPrefixes {
		add(p)
	}
	add("on the left of on the right of above below and")
	for _, c := range Concepts {
		add(c.Description)
		add(c.Prompt())
	}
	words := make([]string, 0, len(set))
	for w := range set {
		words = append(words, w)
	}
	sort.Strings(words)
	return words
}

// byteSymbols is CLIP's byte→symbol table in vocabulary order: the printable bytes
// 33–126, 161–172 and 174–255 stand for themselves, the other 68 bytes map, in increasing
// order, to U+0100 onwards. order[i] is the byte of vocabulary id i.
func byteSymbols() (sym [256]string, order []byte) {
	printable := func(b int) bool { return (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255) }
	for b := 0; b < 256; b++ {
		if printable(b) {
			sym[b] = string(rune(b))
			order = append(order, byte(b))
		}
	}
	n := 0
	for b := 0; b < 256; b++ {
		if !printable(b) {
			sym[b] = string(rune(256 + n))
			n++
			order = append(order, byte(b))
		}
	}
	return sym, order
}

// BPE is a learned tokenizer: vocabulary entries by id and merges by rank.
type BPE struct {
	Vocab  []string
	Merges [][2]string
}

// BuildTokenizer learns the merges that make every word of TokenizerWords one token:
// repeatedly merge the most frequent adjacent pair over the words (ties to the smallest
// pair in byte order, so the result is deterministic) until every word is whole.
func BuildTokenizer() BPE {
	sym, order := byteSymbols()
	var vocab []string
	for _, b := range order {
		vocab = append(vocab, sym[b])
	}
	for _, b := range order {
		vocab = append(vocab, sym[b]+"</w>")
	}
	seen := map[string]bool{}
	for _, v := range vocab {
		seen[v] = true
	}
	var words [][]string
	for _, w := range TokenizerWords() {
		s := make([]string, len(w))
		for i := range len(w) {
			s[i] = sym[w[i]]
		}
		s[len(s)-1] += "</w>"
		words = append(words, s)
	}
	var merges [][2]string
	for {
		counts := map[[2]string]int{}
		for _, w := range words {
			for i := 0; i+1 < len(w); i++ {
				counts[[2]string{w[i], w[i+1]}]++
			}
		}
		if len(counts) == 0 {
			break
		}
		var best [2]string
		bestN := 0
		for p, n := range counts {
			if n > bestN || (n == bestN && (p[0] < best[0] || (p[0] == best[0] && p[1] < best[1]))) {
				best, bestN = p, n
			}
		}
		merges = append(merges, best)
		joined := best[0] + best[1]
		if !seen[joined] {
			seen[joined] = true
			vocab = append(vocab, joined)
		}
		for k, w := range words {
			words[k] = mergePair(w, best, joined)
		}
	}
	vocab = append(vocab, StartOfText, EndOfText)
	return BPE{Vocab: vocab, Merges: merges}
}

// mergePair replaces every left-to-right occurrence of pair p in w by joined.
func mergePair(w []string, p [2]string, joined string) []string {
	out := w[:0:0]
	for i := 0; i < len(w); {
		if i+1 < len(w) && w[i] == p[0] && w[i+1] == p[1] {
			out = append(out, joined)
			i += 2
			continue
		}
		out = append(out, w[i])
		i++
	}
	return out
}

// VocabJSON is vocab.json: the token → id object, written in id order with raw UTF-8 like
// Hugging Face does.
func (t BPE) VocabJSON() []byte {
	var buf bytes.Buffer
	buf.WriteString("{")
	for id, tok := range t.Vocab {
		if id > 0 {
			buf.WriteString(",")
		}
		buf.WriteString("\n  ")
		buf.Write(jsonString(tok))
		fmt.Fprintf(&buf, ": %d", id)
	}
	buf.WriteString("\n}\n")
	return buf.Bytes()
}

// MergesTXT is merges.txt: the "#version: 0.2" header and one "left right" line per
// merge, by rank.
func (t BPE) MergesTXT() []byte {
	var buf bytes.Buffer
	buf.WriteString("#version: 0.2\n")
	for _, m := range t.Merges {
		buf.WriteString(m[0] + " " + m[1] + "\n")
	}
	return buf.Bytes()
}

func jsonString(s string) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s) // a string always encodes
	return bytes.TrimRight(buf.Bytes(), "\n")
}

// WriteTokenizer writes vocab.json and merges.txt of BuildTokenizer to dir (created when
// missing): a folder model/clip.LoadTokenizer reads.
func WriteTokenizer(dir string) error {
	t := BuildTokenizer()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("shapes: %w", err)
	}
	for name, data := range map[string][]byte{"vocab.json": t.VocabJSON(), "merges.txt": t.MergesTXT()} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			return fmt.Errorf("shapes: writing tokenizer: %w", err)
		}
	}
	return nil
}
