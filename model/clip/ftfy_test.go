package clip

import (
	"testing"
	"unicode/utf8"
)

// Expected values follow ftfy 6.1.1's documented behaviour (its docstrings) and Python's
// html.unescape rules.
func TestUnescapeHTML(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"&lt;tag&gt;", "<tag>"},
		{"&Jscr;ohn &HilbertSpace;ancock", "𝒥ohn ℋancock"},
		{"&checkmark;", "✓"},
		{"P&eacute;rez", "Pérez"},
		{"P&EACUTE;REZ", "PÉREZ"},
		{"BUNDESSTRA&SZLIG;E", "BUNDESSTRASSE"},
		{"&ntilde; &Ntilde; &NTILDE; &nTILDE;", "ñ Ñ Ñ &nTILDE;"},
		{"&AMP; &GT;", "& >"},              // all-caps names that are entities themselves
		{"&GTCC;", "&GTCC;"},               // "&GT" already decodes as a prefix: left alone
		{"this&not that", "this&not that"}, // no semicolon
		{"&notit;", "&notit;"},             // only a prefix is an entity
		{"&semi;&amp;", ";&"},              // entity whose value is the semicolon
		{"&#65;&#x42;&#X43;", "ABC"},       // numeric references
		{"&#128;&#x9d;", "€\u009d"},        // C1 numbers read as Windows-1252
		{"&#0;&#xD800;&#1114112;", "���"},  // invalid code points
		{"&#1;&#xFFFE;", ""},               // dropped code points
		{"&#65abc;&#x;&#;", "&#65abc;&#x;&#;"},
		{"&abcdefghijklmnopqrstuvwxyz;", "&abcdefghijklmnopqrstuvwxyz;"}, // more than 24 characters
		{"a & b", "a & b"},
		{"&nLt;&nGt;", "\u226a\u20d2\u226b\u20d2"}, // absent from Go's html table
	} {
		if got := unescapeHTML(tc.in); got != tc.want {
			t.Errorf("unescapeHTML(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestFixText(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"plain", "a photo of a dog", "a photo of a dog"},
		{"entities repeat", "&amp;lt;", "<"},
		{"entities kept after <", "<b>&amp;</b>", "<b>&amp;</b>"},
		{"< disables later lines only", "a &amp; b\n<i>\n&amp;", "a & b\n<i>\n&amp;"},
		{"terminal escapes", "\x1b[36;44mI'm blue\x1b[0m", "I'm blue"},
		{"ligatures", "ﬂuﬃeﬆ", "fluffiest"},
		{"width", "ＬＯＵＤ　ＮＯＩＳＥＳ", "LOUD NOISES"},
		{"halfwidth katakana", "Ｕﾀｰﾝ", "Uターン"},
		{"curly quotes", "\u201chere\u2019s a test\u201d \u02bcx", "\"here's a test\" 'x"},
		{"line breaks", "a\r\nb\rc\u2028d\u2029e", "a\nb\nc\nd\ne"},
		{"NEL is a C1 control first", "e\u0085f", "e…f"}, // fix_c1_controls runs before fix_line_breaks
		{"control chars", "a\x00b\x08c\x7fd\ufeffe\u206af\ufffcg\th\x0ci", "abcdefg\th\x0ci"},
		{"NFC", "cafe\u0301", "café"},
		{"C1 controls", "\u0093quoted\u0094", "\"quoted\""}, // → curly quotes → straight
		{"emoji kept", "a 🐕 on the 🛋️", "a 🐕 on the 🛋️"},
		{"CJK kept", "東京の猫 한국어", "東京の猫 한국어"},
		{"accents kept", "café crème brûlée Straße", "café crème brûlée Straße"},
	} {
		if got := FixText(tc.in); got != tc.want {
			t.Errorf("%s: FixText(%q) = %q, want %q", tc.name, tc.in, got, tc.want)
		}
	}
}

// FuzzFixText checks that fixing never panics and keeps valid UTF-8 valid.
func FuzzFixText(f *testing.F) {
	for _, s := range []string{"", "&amp;", "\x1b[1m", "cafe\u0301", "Ã©", "\u0093x\u0094", "a\r\nb<", "&#xFFFF;",
		"â€œquotedâ€\u009d", "cafÃƒÂ©", "voilÃ le", "Ð¿Ñ€Ð¸", "â€\ufffd x", "\xed\xa0\xbd"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := FixText(s)
		if !utf8.ValidString(s) {
			return
		}
		if !utf8.ValidString(got) {
			t.Fatalf("FixText(%q) = %q is not valid UTF-8", s, got)
		}
	})
}

func TestFixEncoding(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"UTF-8 read as Latin-1", "sÃ³", "só"},
		{"lone pair", "Ã³", "ó"},
		{"twice misread", "cafÃƒÂ©", "café"},
		{"Windows-1252 curly quotes", "â€œquotedâ€\u009d", "“quoted”"},
		{"lost byte becomes U+FFFD", "â€œ like this â€\ufffd", "“ like this \ufffd"},
		{"restored no-break space", "voilÃ le travail", "voilà le travail"},
		{"Windows-1251 misread", "Ð¿Ñ€Ð¸Ð²ÐµÑ‚", "привет"},
		{"entities are not mojibake", "&ATILDE;&SUP3;", "&ATILDE;&SUP3;"},
		{"good accents stay", "café crème brûlée naïve façade Straße München", "café crème brûlée naïve façade Straße München"},
		{"good non-Latin stays", "東京の猫 한국어 привет 🐕", "東京の猫 한국어 привет 🐕"},
		{"C1 controls in Latin-1 text read as Windows-1252", "\u0093hi\u0094", "“hi”"},
		{"ASCII", "a photo of a dog", "a photo of a dog"},
	} {
		if got := fixEncoding(tc.in); got != tc.want {
			t.Errorf("%s: fixEncoding(%q) = %q, want %q", tc.name, tc.in, got, tc.want)
		}
	}
}

func TestFixTextMojibake(t *testing.T) {
	// The whole pipeline: mojibake repaired, then quotes straightened.
	if got, want := FixText("â€œcafÃ©â€\u009d &amp; more"), "\"café\" & more"; got != want {
		t.Errorf("FixText = %q, want %q", got, want)
	}
}

func TestDecodeUTF8Variants(t *testing.T) {
	for _, tc := range []struct {
		in   []byte
		want string
		ok   bool
	}{
		{[]byte("abc"), "abc", true},
		{[]byte{0xC0, 0x80, 'x'}, "\x00x", true},
		{[]byte{0xED, 0xA0, 0xBD, 0xED, 0xB8, 0x80}, "😀", true}, // CESU-8 surrogate pair
		{[]byte{0xED, 0xA0, 0xBD}, "", false},                   // lone surrogate
		{[]byte{0xC3}, "", false},
		{[]byte("\uFFFD"), "\uFFFD", true},
	} {
		got, ok := decodeUTF8Variants(tc.in)
		if got != tc.want || ok != tc.ok {
			t.Errorf("decodeUTF8Variants(% x) = %q, %v; want %q, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}
