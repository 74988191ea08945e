package clip

import (
	"bytes"
	"strings"
	"unicode/utf8"
)

// fixEncoding undoes mojibake — UTF-8 that was decoded in a single-byte encoding, possibly
// several times — as ftfy.fix_encoding does: one repair step at a time until nothing
// changes (bounded by maxFixPasses, see there).
func fixEncoding(text string) string {
	for range maxFixPasses {
		fixed := fixEncodingStep(text)
		if fixed == text {
			return text
		}
		text = fixed
	}
	return text
}

// fixEncodingStep is one step of ftfy's encoding repair. Text that is ASCII or does not look
// like mojibake is returned as it is. Otherwise the first encoding (in ftfy's order) that can
// encode the whole text and whose bytes decode as UTF-8 wins; failing that, embedded UTF-8
// runs are fixed one by one, Latin-1 text holding C1 controls is read as Windows-1252, and
// remaining C1 controls are replaced individually.
func fixEncodingStep(text string) string {
	if text == "" || isASCII(text) || !isBad(text) {
		return text
	}
	canLatin1 := false
	for _, codec := range charmapCodecs {
		if !codec.canEncode(text) {
			continue
		}
		if codec.name == "latin-1" {
			canLatin1 = true
		}
		encoded := codec.encodeString(text)
		if searchByteSeqs(encoded, alteredUTF8) {
			encoded = restoreByteA0(encoded)
		}
		if strings.HasPrefix(codec.name, "sloppy") {
			encoded = replaceLossySequences(encoded)
		}
		var fixed string
		var ok bool
		if bytes.IndexByte(encoded, 0xED) >= 0 || bytes.IndexByte(encoded, 0xC0) >= 0 {
			fixed, ok = decodeUTF8Variants(encoded)
		} else if utf8.Valid(encoded) {
			fixed, ok = string(encoded), true
		}
		if ok {
			return fixed
		}
	}
	if fixed := decodeInconsistentUTF8(text); fixed != text {
		return fixed
	}
	// ftfy would keep text that is both Latin-1 and Windows-1252, but checks for the
	// encoding name "windows-1252", which is never in its list of candidates (only the
	// sloppy variant is), so Latin-1 text always gets the Windows-1252 reading here.
	if canLatin1 {
		if fixed, ok := strictWindows1252.decodeStrict(latin1Bytes(text)); ok && fixed != text {
			return fixed
		}
	}
	if hasC1(text) {
		return fixC1Controls(text)
	}
	return text
}

// decodeInconsistentUTF8 fixes runs of UTF-8 mojibake embedded in otherwise good text: each
// run that looks bad on its own and is shorter than the whole text is fixed by itself.
func decodeInconsistentUTF8(text string) string {
	total := utf8.RuneCountInString(text)
	var out strings.Builder
	changed := false
	prev := rune(-1)
	for i := 0; i < len(text); {
		if prev < 0 || !utf8ContinuationStrictRE.MatchString(string(prev)) {
			if loc := utf8DetectorRE.FindStringIndex(text[i:]); loc != nil {
				run := text[i : i+loc[1]]
				if utf8.RuneCountInString(run) < total && isBad(run) {
					fixed := fixEncoding(run)
					changed = changed || fixed != run
					run = fixed
				}
				out.WriteString(run)
				prev, _ = utf8.DecodeLastRuneInString(text[i : i+loc[1]])
				i += loc[1]
				continue
			}
		}
		r, size := utf8.DecodeRuneInString(text[i:])
		out.WriteString(text[i : i+size])
		prev = r
		i += size
	}
	if !changed {
		return text
	}
	return out.String()
}

func latin1Bytes(s string) []byte {
	out := make([]byte, 0, len(s))
	for _, r := range s {
		out = append(out, byte(r))
	}
	return out
}

func hasC1(s string) bool {
	for _, r := range s {
		if r >= 0x80 && r <= 0x9F {
			return true
		}
	}
	return false
}
