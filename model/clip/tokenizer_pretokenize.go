package clip

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/cases"
	"golang.org/x/text/language"
)

// Literal special tokens that CLIP's pre-tokenisation pattern matches before anything else
// (they come out of BPE unchanged and are looked up as they are).
const (
	clipStartOfText = "<|startoftext|>"
	clipEndOfText   = "<|endoftext|>"
)

// contractions are the pattern's 's|'t|'re|'ve|'m|'ll|'d alternatives, in its order.
var contractions = []string{"s", "t", "re", "ve", "m", "ll", "d"}

// isPySpace reports whether Python's str.isspace (and so `\s` in the reference's patterns)
// holds: Go's unicode.IsSpace plus the information separators U+001C–U+001F.
func isPySpace(r rune) bool {
	return unicode.IsSpace(r) || (r >= 0x1c && r <= 0x1f)
}

// cleanWhitespace collapses every whitespace run to one space and trims both ends, as the
// reference's whitespace_clean does.
func cleanWhitespace(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	pendingSpace := false
	for _, r := range s {
		if isPySpace(r) {
			pendingSpace = b.Len() > 0
			continue
		}
		if pendingSpace {
			b.WriteByte(' ')
			pendingSpace = false
		}
		b.WriteRune(r)
	}
	return b.String()
}

// lowerCaser lowercases with full Unicode case mapping (İ → i̇, final sigma), like Python's
// str.lower.
var lowerCaser = cases.Lower(language.Und)

// pretokenize splits cleaned, lowercased text the way CLIP's pattern
// `<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+`
// (case-insensitive) does with findall: at each position the first alternative that matches
// wins, and positions no alternative matches (whitespace) are skipped.
func pretokenize(text string) []string {
	var pieces []string
	for i := 0; i < len(text); {
		n := matchPretoken(text[i:])
		if n == 0 {
			_, size := utf8.DecodeRuneInString(text[i:])
			i += size
			continue
		}
		pieces = append(pieces, text[i:i+n])
		i += n
	}
	return pieces
}

// matchPretoken returns the length in bytes of the pre-token starting s, 0 when none does.
func matchPretoken(s string) int {
	for _, lit := range []string{clipStartOfText, clipEndOfText} {
		if hasPrefixFold(s, lit) {
			return len(lit)
		}
	}
	if strings.HasPrefix(s, "'") {
		for _, c := range contractions {
			if n := prefixFoldLen(s[1:], c); n > 0 {
				return 1 + n
			}
		}
	}
	r, size := utf8.DecodeRuneInString(s)
	switch {
	case unicode.IsLetter(r):
		return size + runLen(s[size:], unicode.IsLetter)
	case unicode.IsNumber(r):
		return size
	case isPySpace(r):
		return 0
	default:
		return size + runLen(s[size:], isSymbol)
	}
}

// isSymbol is the pattern's [^\s\p{L}\p{N}] class.
func isSymbol(r rune) bool {
	return !isPySpace(r) && !unicode.IsLetter(r) && !unicode.IsNumber(r)
}

// runLen returns the byte length of the longest prefix of s whose runes satisfy in.
func runLen(s string, in func(rune) bool) int {
	for i, r := range s {
		if !in(r) {
			return i
		}
	}
	return len(s)
}

// hasPrefixFold reports whether s starts with the ASCII literal lit, ignoring case.
func hasPrefixFold(s, lit string) bool {
	return prefixFoldLen(s, lit) > 0
}

// prefixFoldLen matches the ASCII literal lit at the start of s with simple case folding,
// as the reference's IGNORECASE does (so 's also matches 'ſ, U+017F); it returns the byte
// length matched in s, or 0.
func prefixFoldLen(s, lit string) int {
	n := 0
	for _, want := range lit {
		r, size := utf8.DecodeRuneInString(s[n:])
		if size == 0 || !foldEqual(r, want) {
			return 0
		}
		n += size
	}
	return n
}

// foldEqual reports whether r equals the ASCII rune want under simple case folding.
func foldEqual(r, want rune) bool {
	if r == want {
		return true
	}
	for f := unicode.SimpleFold(want); f != want; f = unicode.SimpleFold(f) {
		if f == r {
			return true
		}
	}
	return false
}
