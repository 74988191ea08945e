package clip

import (
	"golang.org/x/text/encoding/charmap"
)

// singleByteCodec is one of the single-byte encodings ftfy suspects UTF-8 was misread as.
type singleByteCodec struct {
	name   string
	decode [256]rune
	encode map[rune]byte
}

// newCodec builds a codec from x/text's table. sloppy follows ftfy's "sloppy" codecs: bytes
// the encoding leaves undefined decode as their Latin-1 code point, and byte 0x1A stands for
// U+FFFD. c1Passthrough keeps 0x80–0x9F as C1 controls, as Python's ISO-8859 codecs do (x/text
// reports them undefined).
func newCodec(name string, cm *charmap.Charmap, sloppy, c1Passthrough bool) *singleByteCodec {
	c := &singleByteCodec{name: name, encode: make(map[rune]byte, 256)}
	for b := 0; b < 256; b++ {
		r := rune(b)
		if cm != nil {
			r = cm.DecodeByte(byte(b))
			if r == '\uFFFD' && (sloppy || (c1Passthrough && b >= 0x80 && b <= 0x9F)) {
				r = rune(b)
			}
		}
		c.decode[b] = r
	}
	if sloppy {
		c.decode[0x1A] = '\uFFFD'
	}
	for b := 255; b >= 0; b-- {
		if c.decode[b] != '\uFFFD' || (sloppy && b == 0x1A) {
			c.encode[c.decode[b]] = byte(b)
		}
	}
	return c
}

// charmapCodecs are the encodings ftfy tries, in its order.
var charmapCodecs = []*singleByteCodec{
	newCodec("latin-1", nil, false, false),
	newCodec("sloppy-windows-1252", charmap.Windows1252, true, false),
	newCodec("sloppy-windows-1251", charmap.Windows1251, true, false),
	newCodec("sloppy-windows-1250", charmap.Windows1250, true, false),
	newCodec("sloppy-windows-1253", charmap.Windows1253, true, false),
	newCodec("sloppy-windows-1254", charmap.Windows1254, true, false),
	newCodec("iso-8859-2", charmap.ISO8859_2, false, true),
	newCodec("macroman", charmap.Macintosh, false, false),
	newCodec("cp437", charmap.CodePage437, false, false),
}

// strictWindows1252 decodes Windows-1252 with its five undefined bytes as errors.
var strictWindows1252 = newCodec("windows-1252", charmap.Windows1252, false, false)

// canEncode reports whether every rune of s has a byte in c (ftfy's possible_encoding).
func (c *singleByteCodec) canEncode(s string) bool {
	for _, r := range s {
		if _, ok := c.encode[r]; !ok {
			return false
		}
	}
	return true
}

// encodeString returns the bytes of s in c; call only after canEncode.
func (c *singleByteCodec) encodeString(s string) []byte {
	out := make([]byte, 0, len(s))
	for _, r := range s {
		out = append(out, c.encode[r])
	}
	return out
}

// decodeStrict decodes b, failing on a byte the codec leaves undefined.
func (c *singleByteCodec) decodeStrict(b []byte) (string, bool) {
	out := make([]rune, len(b))
	for i, x := range b {
		r := c.decode[x]
		if r == '\uFFFD' {
			return "", false
		}
		out[i] = r
	}
	return string(out), true
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}
