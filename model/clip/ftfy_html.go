package clip

import (
	"html"
	"strconv"
	"strings"

	"golang.org/x/text/cases"
	"golang.org/x/text/language"
)

// unescapeHTML decodes entities written &name; or &#number; (ftfy's `&#?[0-9A-Za-z]{1,24};`):
// HTML5 named entities that end in a semicolon, all-caps spellings of lowercase entity
// names (&EACUTE; → É) when those are not entities themselves, and numeric character
// references that decode completely. Entities without the semicolon ("this&not that") stay.
func unescapeHTML(s string) string {
	if !strings.Contains(s, "&") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		if s[i] == '&' {
			if n := entityLen(s[i:]); n > 0 {
				b.WriteString(decodeEntity(s[i : i+n]))
				i += n
				continue
			}
		}
		b.WriteByte(s[i])
		i++
	}
	return b.String()
}

// entityLen returns the length of `&#?[0-9A-Za-z]{1,24};` at the start of s, or 0.
func entityLen(s string) int {
	i := 1
	if i < len(s) && s[i] == '#' {
		i++
	}
	start := i
	for i < len(s) && i-start < 24 && isASCIIAlnum(s[i]) {
		i++
	}
	if i == start || i >= len(s) || s[i] != ';' {
		return 0
	}
	return i + 1
}

func isASCIIAlnum(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

var upperCaser = cases.Upper(language.Und)

// decodeEntity decodes one matched entity, returning it unchanged when ftfy would.
func decodeEntity(ent string) string {
	if strings.HasPrefix(ent, "&#") {
		if r, ok := decodeCharRef(ent[2 : len(ent)-1]); ok {
			return r
		}
		return ent
	}
	if r, ok := namedEntity(ent); ok {
		return r
	}
	// An all-caps spelling of an all-lowercase entity name decodes to the uppercased
	// character, unless the all-caps form already means something to an HTML parser.
	name := ent[1 : len(ent)-1]
	lower := strings.ToLower(name)
	if strings.ToUpper(lower) != name || lower == name {
		return ent
	}
	if r, ok := namedEntity("&" + lower + ";"); ok && html.UnescapeString(ent) == ent {
		return upperCaser.String(r)
	}
	return ent
}

// entitiesMissingInGo are the HTML5 entities Go's html package does not decode.
var entitiesMissingInGo = map[string]string{"&nLt;": "\u226a\u20d2", "&nGt;": "\u226b\u20d2"}

// namedEntity decodes "&name;" when name; is exactly an HTML5 entity. html.UnescapeString
// also decodes prefixes ("&notit;" → "¬it;"), so a result still ending in the semicolon
// means only a prefix matched (";" itself is &semi;).
func namedEntity(ent string) (string, bool) {
	if r, ok := entitiesMissingInGo[ent]; ok {
		return r, true
	}
	r := html.UnescapeString(ent)
	if r == ent || (strings.HasSuffix(r, ";") && r != ";") {
		return "", false
	}
	return r, true
}

// decodeCharRef decodes the body of "&#...;" the way Python's html.unescape does when the
// whole reference is consumed: decimal digits or x/X and hex digits.
func decodeCharRef(body string) (string, bool) {
	digits, base := body, 10
	if len(body) > 0 && (body[0] == 'x' || body[0] == 'X') {
		digits, base = body[1:], 16
	}
	if digits == "" {
		return "", false
	}
	for i := 0; i < len(digits); i++ {
		c := digits[i]
		ok := c >= '0' && c <= '9' || base == 16 && (c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F')
		if !ok {
			return "", false
		}
	}
	n, err := strconv.ParseUint(digits, base, 64)
	if err != nil || n > 0x10FFFF {
		return "\uFFFD", true // beyond Unicode (or 64 bits)
	}
	cp := rune(n)
	switch {
	case cp == 0:
		return "\uFFFD", true
	case cp == 0x0D:
		return "\r", true
	case cp >= 0x80 && cp <= 0x9F:
		return string(sloppyWindows1252[cp-0x80]), true
	case cp >= 0xD800 && cp <= 0xDFFF:
		return "\uFFFD", true
	case invalidCodepoint(cp):
		return "", true
	}
	return string(cp), true
}

// invalidCodepoint lists what Python's html.unescape drops: C0 controls other than tab,
// newline, form feed and CR, DEL and C1 (handled above), the noncharacters U+FDD0–U+FDEF and
// every U+xxFFFE/U+xxFFFF.
func invalidCodepoint(cp rune) bool {
	switch {
	case cp >= 0x1 && cp <= 0x8, cp == 0xB, cp >= 0xE && cp <= 0x1F, cp >= 0x7F && cp <= 0x9F:
		return true
	case cp >= 0xFDD0 && cp <= 0xFDEF:
		return true
	case cp&0xFFFE == 0xFFFE:
		return true
	}
	return false
}
