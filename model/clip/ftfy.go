package clip

import (
	"strings"

	"golang.org/x/text/unicode/norm"
)

// FixText repairs text the way ftfy.fix_text (ftfy 6.1.1, default settings) does before
// CLIP tokenisation. The text is processed line by line (each segment ends after a "\n");
// each segment is fixed repeatedly until it stops changing by: decoding HTML entities,
// undoing mojibake (UTF-8 read in a single-byte encoding), turning C1 controls into their
// Windows-1252 characters, splitting Latin ligatures, narrowing full/half-width forms,
// straightening curly quotes, normalising line breaks, removing ANSI terminal escapes and
// unwanted control characters, and NFC normalisation.
//
// As in ftfy, HTML entities are left alone from the first segment containing "<" on,
// because such text is probably HTML markup meant literally.
func FixText(text string) string {
	var out strings.Builder
	out.Grow(len(text))
	unescape := true
	for len(text) > 0 {
		end := strings.IndexByte(text, '\n') + 1
		if end == 0 {
			end = len(text)
		}
		segment := text[:end]
		text = text[end:]
		if strings.Contains(segment, "<") {
			unescape = false
		}
		out.WriteString(fixSegment(segment, unescape))
	}
	return out.String()
}

// maxFixPasses bounds the fix-until-unchanged loops. ftfy loops without a bound; every
// real repair converges in a few passes, and the bound keeps a server from spinning on a
// crafted prompt should some input ever cycle.
const maxFixPasses = 32

// fixSegment is ftfy's fix_and_explain on one segment: apply every fixer in ftfy's order
// until a whole pass changes nothing.
func fixSegment(text string, unescape bool) string {
	for range maxFixPasses {
		orig := text
		if unescape {
			text = unescapeHTML(text)
		}
		text = fixEncoding(text)
		text = fixC1Controls(text)
		text = fixLatinLigatures(text)
		text = fixCharacterWidth(text)
		text = uncurlQuotes(text)
		text = fixLineBreaks(text)
		// fix_surrogates has nothing to do: a Go string of valid UTF-8 holds no surrogates.
		text = removeTerminalEscapes(text)
		text = removeControlChars(text)
		text = norm.NFC.String(text)
		if text == orig {
			return text
		}
	}
	return text
}
