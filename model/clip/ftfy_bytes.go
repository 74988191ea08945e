package clip

import (
	"bytes"
	"unicode/utf8"
)

// byteClass is a set of byte values; byteSeq is a fixed-length byte pattern.
type (
	byteClass [256]bool
	byteSeq   []*byteClass
)

// bytesOf builds a class from single bytes and inclusive ranges given as pairs in ranges.
func bytesOf(single string, ranges ...byte) *byteClass {
	var c byteClass
	for i := 0; i < len(single); i++ {
		c[single[i]] = true
	}
	for i := 0; i+1 < len(ranges); i += 2 {
		for b := int(ranges[i]); b <= int(ranges[i+1]); b++ {
			c[b] = true
		}
	}
	return &c
}

func (s byteSeq) matchAt(b []byte, i int) bool {
	if i+len(s) > len(b) {
		return false
	}
	for k, c := range s {
		if !c[b[i+k]] {
			return false
		}
	}
	return true
}

// replaceByteSeqs scans b left to right like a regexp substitution over the alternatives
// alts (first alternative that matches wins) and replaces each match by rep(match).
func replaceByteSeqs(b []byte, alts []byteSeq, rep func([]byte) []byte) []byte {
	var out []byte
	for i := 0; i < len(b); {
		matched := false
		for _, alt := range alts {
			if alt.matchAt(b, i) {
				out = append(out, rep(b[i:i+len(alt)])...)
				i += len(alt)
				matched = true
				break
			}
		}
		if !matched {
			out = append(out, b[i])
			i++
		}
	}
	return out
}

func searchByteSeqs(b []byte, alts []byteSeq) bool {
	for i := range b {
		for _, alt := range alts {
			if alt.matchAt(b, i) {
				return true
			}
		}
	}
	return false
}

var (
	anyCont   = bytesOf("", 0x80, 0xBF)
	contNoA0  = bytesOf("", 0x80, 0x84, 0x86, 0x9F, 0xA1, 0xBF) // continuation bytes except 0x85 and 0xA0
	spaceByte = bytesOf(" ")
	subByte   = bytesOf("\x1a")
	subOrQ    = bytesOf("\x1a?")
	subOrCont = bytesOf("\x1a", 0x80, 0xBF)
	subQCont  = bytesOf("\x1a?", 0x80, 0xBF)
	lead3     = bytesOf("", 0xE0, 0xEF)
	lead4     = bytesOf("", 0xF0, 0xF4)
	byteED    = bytesOf("\xed")
	hiSurr    = bytesOf("", 0xA0, 0xAF)
	loSurr    = bytesOf("", 0xB0, 0xBF)
)

// alteredUTF8 finds UTF-8 sequences that would be valid if a 0xA0 byte had not been turned
// into a space (ftfy's ALTERED_UTF8_RE); only likely lead bytes are accepted.
var alteredUTF8 = []byteSeq{
	{bytesOf("\xc2\xc3\xc5\xce\xd0\xd9"), spaceByte},
	{bytesOf("\xe2\xe3"), spaceByte, contNoA0},
	{bytesOf("", 0xE0, 0xE3), contNoA0, spaceByte},
	{bytesOf("\xf0"), spaceByte, anyCont, anyCont},
	{bytesOf("\xf0"), anyCont, spaceByte, anyCont},
	{bytesOf("\xf0"), anyCont, anyCont, spaceByte},
}

// restoreByteA0 puts back 0xA0 bytes that became spaces inside would-be UTF-8. "Ã " as a
// word ("à la") keeps its space after the restored byte, except before the Portuguese
// contractions às, àquele, àquela, àquilo.
func restoreByteA0(b []byte) []byte {
	var out []byte
	for i := 0; i < len(b); i++ {
		if b[i] == 0xC3 && i+1 < len(b) && b[i+1] == ' ' && !aGraveException(b[i+2:]) {
			out = append(out, 0xC3, 0xA0, ' ')
			i++
			continue
		}
		out = append(out, b[i])
	}
	return replaceByteSeqs(out, alteredUTF8, func(m []byte) []byte {
		return bytes.ReplaceAll(m, []byte{' '}, []byte{0xA0})
	})
}

func aGraveException(rest []byte) bool {
	for _, p := range []string{" ", "quele", "quela", "quilo", "s "} {
		if bytes.HasPrefix(rest, []byte(p)) {
			return true
		}
	}
	return false
}

// lossyUTF8 finds UTF-8 (and CESU-8) sequences in which bytes were lost: the sloppy codecs
// encode U+FFFD as 0x1A, and '?' may stand for one lost byte (ftfy's LOSSY_UTF8_RE).
var lossyUTF8 = []byteSeq{
	{bytesOf("", 0xC2, 0xDF), subByte},
	{bytesOf("", 0xC2, 0xC3), bytesOf("?")},
	{byteED, hiSurr, subOrQ, byteED, loSurr, subQCont},
	{byteED, hiSurr, subQCont, byteED, loSurr, subOrQ},
	{lead3, subOrQ, subOrCont},
	{lead3, subOrCont, subOrQ},
	{lead4, subOrQ, subOrCont, subOrCont},
	{lead4, subOrCont, subOrQ, subOrCont},
	{lead4, subOrCont, subOrCont, subOrQ},
	{subByte},
}

// replaceLossySequences decodes damaged sequences as a single U+FFFD.
func replaceLossySequences(b []byte) []byte {
	return replaceByteSeqs(b, lossyUTF8, func([]byte) []byte { return []byte("\uFFFD") })
}

// decodeUTF8Variants decodes strict UTF-8 that may also contain Java's two-byte NUL (C0 80)
// and CESU-8 surrogate pairs (ftfy's utf-8-variants codec); false on any invalid sequence.
func decodeUTF8Variants(b []byte) (string, bool) {
	out := make([]rune, 0, len(b))
	for i := 0; i < len(b); {
		if b[i] == 0xC0 && i+1 < len(b) && b[i+1] == 0x80 {
			out = append(out, 0)
			i += 2
			continue
		}
		if (byteSeq{byteED, hiSurr, anyCont, byteED, loSurr, anyCont}).matchAt(b, i) {
			cp := rune(b[i+1]&0x0F)<<16 | rune(b[i+2]&0x3F)<<10 | rune(b[i+4]&0x0F)<<6 | rune(b[i+5]&0x3F)
			out = append(out, cp+0x10000)
			i += 6
			continue
		}
		r, size := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && size <= 1 {
			return "", false
		}
		out = append(out, r)
		i += size
	}
	return string(out), true
}
