package clip

import (
	"strings"
	"unicode"

	"golang.org/x/text/unicode/norm"
)

// latinLigatures are the single-character Latin ligatures and legacy digraphs ftfy splits;
// ligatures such as æ that are used on purpose are left alone.
var latinLigatures = map[rune]string{
	'Ĳ': "IJ", 'ĳ': "ij", 'ŉ': "ʼn",
	'Ǳ': "DZ", 'ǲ': "Dz", 'ǳ': "dz", 'Ǆ': "DŽ", 'ǅ': "Dž", 'ǆ': "dž",
	'Ǉ': "LJ", 'ǈ': "Lj", 'ǉ': "lj", 'Ǌ': "NJ", 'ǋ': "Nj", 'ǌ': "nj",
	'ﬀ': "ff", 'ﬁ': "fi", 'ﬂ': "fl", 'ﬃ': "ffi", 'ﬄ': "ffl", 'ﬅ': "ſt", 'ﬆ': "st",
}

func fixLatinLigatures(s string) string {
	return mapRunes(s, func(r rune) (string, bool) {
		rep, ok := latinLigatures[r]
		return rep, ok
	})
}

// fixCharacterWidth replaces halfwidth and fullwidth forms (U+FF01–U+FFEF) by their NFKC
// equivalents and the ideographic space U+3000 by a space.
func fixCharacterWidth(s string) string {
	return mapRunes(s, func(r rune) (string, bool) {
		if r == 0x3000 {
			return " ", true
		}
		if r >= 0xFF01 && r < 0xFFF0 {
			if alt := norm.NFKC.String(string(r)); alt != string(r) {
				return alt, true
			}
		}
		return "", false
	})
}

// uncurlQuotes straightens curly quotes: U+02BC and U+2018–U+201B become ', U+201C–U+201F
// become ".
func uncurlQuotes(s string) string {
	return mapRunes(s, func(r rune) (string, bool) {
		switch {
		case r == 0x02BC || (r >= 0x2018 && r <= 0x201B):
			return "'", true
		case r >= 0x201C && r <= 0x201F:
			return "\"", true
		}
		return "", false
	})
}

// fixLineBreaks turns CRLF, CR, U+2028, U+2029 and NEL (U+0085) into "\n".
var lineBreakReplacer = strings.NewReplacer("\r\n", "\n", "\r", "\n", "\u2028", "\n", "\u2029", "\n", "\u0085", "\n")

func fixLineBreaks(s string) string { return lineBreakReplacer.Replace(s) }

// removeControlChars deletes controls nobody means to keep: C0 controls other than tab,
// newline, form feed and carriage return, DEL, the deprecated Arabic format controls
// U+206A–U+206F, the byte-order mark U+FEFF and the interlinear annotation and object
// replacement characters U+FFF9–U+FFFC. C1 controls, joiners and bidi marks stay.
func removeControlChars(s string) string {
	return mapRunes(s, func(r rune) (string, bool) {
		switch {
		case r <= 0x08, r == 0x0B, r >= 0x0E && r <= 0x1F, r == 0x7F,
			r >= 0x206A && r <= 0x206F, r == 0xFEFF, r >= 0xFFF9 && r <= 0xFFFC:
			return "", true
		}
		return "", false
	})
}

// removeTerminalEscapes deletes ANSI escape sequences ESC [ digits-or-semicolons letter
// (digits in any script, as Python's \d).
func removeTerminalEscapes(s string) string {
	if !strings.Contains(s, "\x1b[") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		if n := ansiEscapeLen(s[i:]); n > 0 {
			i += n
			continue
		}
		b.WriteByte(s[i])
		i++
	}
	return b.String()
}

// ansiEscapeLen returns the byte length of an escape sequence at the start of s, or 0.
func ansiEscapeLen(s string) int {
	if !strings.HasPrefix(s, "\x1b[") {
		return 0
	}
	for i, r := range s[2:] {
		if r == ';' || unicode.IsDigit(r) {
			continue
		}
		if r < 0x80 && unicode.IsLetter(r) {
			return 2 + i + 1
		}
		return 0
	}
	return 0
}

// fixC1Controls replaces C1 controls U+0080–U+009F by the Windows-1252 characters of the
// same bytes (browsers' behaviour); the five bytes Windows-1252 leaves undefined stay.
func fixC1Controls(s string) string {
	return mapRunes(s, func(r rune) (string, bool) {
		if r >= 0x80 && r <= 0x9F {
			return string(sloppyWindows1252[r-0x80]), true
		}
		return "", false
	})
}

// sloppyWindows1252 is Windows-1252 for bytes 0x80–0x9F, with the undefined bytes passing
// through as the Latin-1 code point (ftfy's "sloppy" codec).
var sloppyWindows1252 = [32]rune{
	'€', 0x81, '‚', 'ƒ', '„', '…', '†', '‡', 'ˆ', '‰', 'Š', '‹', 'Œ', 0x8D, 'Ž', 0x8F,
	0x90, '‘', '’', '“', '”', '•', '–', '—', '˜', '™', 'š', '›', 'œ', 0x9D, 'ž', 'Ÿ',
}

// mapRunes rewrites the runes for which replace reports true, returning s itself when
// nothing changes.
func mapRunes(s string, replace func(rune) (string, bool)) string {
	var b strings.Builder
	changed := false
	for i, r := range s {
		rep, ok := replace(r)
		if !ok {
			if changed {
				b.WriteRune(r)
			}
			continue
		}
		if !changed {
			b.Grow(len(s))
			b.WriteString(s[:i])
			changed = true
		}
		b.WriteString(rep)
	}
	if !changed {
		return s
	}
	return b.String()
}
