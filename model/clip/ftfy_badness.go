package clip

import (
	"regexp"
	"strings"
)

// Character categories of ftfy 6.1.1's mojibake heuristic: the ~400 characters that appear
// when UTF-8 is misread in the single-byte encodings ftfy knows, grouped by how suspicious
// they are next to each other. Each string is the inside of a regexp character class.
const (
	mojiCommon = "\u00a0\u00ad\u00b7\u00b4\u2013\u2014\u2015\u2026\u2019"
	mojiC1     = "\u0080-\u009f"
	mojiBad    = "\u00a6\u00a4\u00a8\u00ac\u00af\u00b6\u00a7\u00b8\u0192\u02c6\u02c7\u02d8\u02db\u02dc" +
		"\u2020\u2021\u2030\u2310\u25ca\ufffd\u00aa\u00ba"
	mojiCurrency   = "\u00a2\u00a3\u00a5\u20a7\u20ac"
	mojiStartPunct = "\u00a1\u00ab\u00bf\u00a9\u0384\u0385\u2018\u201a\u201c\u201e\u2022\u2039\uf8ff"
	mojiEndPunct   = "\u00ae\u00bb\u02dd\u201d\u203a\u2122"
	mojiNumeric    = "\u00b2\u00b3\u00b9\u00b1\u00bc\u00bd\u00be\u00d7\u00b5\u00f7\u2044\u2202\u2206\u220f" +
		"\u2211\u221a\u221e\u2229\u222b\u2248\u2260\u2261\u2264\u2265\u2116"
	mojiKaomoji       = "\u00d2-\u00d6\u00d9-\u00dc\u00f2-\u00f6\u00f8-\u00fc\u0150\u00b0"
	mojiUpperAccented = "\u00c0-\u00d1\u00d8\u00dc\u00dd\u0102\u0104\u0106\u010c\u010e\u0110\u0118\u011a\u011e" +
		"\u0130\u0139\u013d\u0141\u0143\u0147\u0152\u0158\u015a\u015e\u0160\u0162\u0164\u016e\u0170" +
		"\u0178\u0179\u017b\u017d\u0490"
	mojiLowerAccented = "\u00df\u00e0-\u00f1\u0103\u0105\u0107\u010d\u010f\u0111\u0119\u011b\u011f\u013a\u013e" +
		"\u0142\u0153\u0155\u015b\u015f\u0161\u0165\u00fc\u017a\u017c\u017e\u0491\ufb01\ufb02"
	mojiUpperCommon = "\u00de\u0391-\u03a9\u0386\u0388\u0389\u038a\u038c\u038e\u038f\u03aa\u03ab\u0401-\u042f"
	mojiLowerCommon = "\u03b1-\u03c9\u03ac\u03ad\u03ae\u03af\u03b0\u0430-\u045f"
	mojiBox         = "\u2502\u250c\u2510\u2518\u251c\u2524\u252c\u253c\u2550-\u256c" +
		"\u2580\u2584\u2588\u258c\u2590\u2591\u2592\u2593"

	// pySpace and pyWord are Python's Unicode \s and \w, which RE2's ASCII \s and \w are not.
	pySpace = `\t\n\v\f\r\x1c-\x1f \x{85}\x{a0}\x{1680}\x{2000}-\x{200a}\x{2028}\x{2029}\x{202f}\x{205f}\x{3000}`
	pyWord  = `\p{L}\p{N}_`
)

// badnessRE matches character sequences that are much likelier to be mojibake than intended
// text (ftfy's BADNESS_RE, the same alternatives in the same order).
var badnessRE = regexp.MustCompile(strings.Join([]string{
	cls(mojiC1),
	cls(mojiBad, mojiLowerAccented, mojiUpperAccented, mojiBox, mojiStartPunct, mojiEndPunct, mojiCurrency, mojiNumeric) + cls(mojiBad),
	`[a-zA-Z]` + cls(mojiLowerCommon, mojiUpperCommon) + cls(mojiBad),
	cls(mojiBad) + cls(mojiLowerAccented, mojiUpperAccented, mojiBox, mojiStartPunct, mojiEndPunct, mojiCurrency, mojiNumeric),
	cls(mojiLowerAccented, mojiLowerCommon, mojiBox, mojiEndPunct, mojiCurrency, mojiNumeric) + cls(mojiUpperAccented),
	cls(mojiBox, mojiEndPunct, mojiCurrency, mojiNumeric) + cls(mojiLowerAccented),
	cls(mojiLowerAccented, mojiBox, mojiEndPunct) + cls(mojiCurrency),
	cls(pySpace) + cls(mojiUpperAccented) + cls(mojiCurrency),
	cls(mojiUpperAccented, mojiBox) + cls(mojiNumeric),
	cls(mojiLowerAccented, mojiUpperAccented, mojiBox, mojiCurrency, mojiEndPunct) + cls(mojiStartPunct) + cls(mojiNumeric),
	cls(mojiLowerAccented, mojiUpperAccented, mojiCurrency, mojiNumeric, mojiBox) + cls(mojiEndPunct) + cls(mojiStartPunct),
	cls(mojiCurrency, mojiNumeric, mojiBox) + cls(mojiStartPunct),
	`[a-z]` + cls(mojiUpperAccented) + cls(mojiStartPunct, mojiCurrency),
	cls(mojiBox) + cls(mojiKaomoji),
	cls(mojiLowerAccented, mojiUpperAccented, mojiCurrency, mojiNumeric, mojiStartPunct, mojiEndPunct) + cls(mojiBox),
	cls(mojiBox) + cls(mojiEndPunct),
	cls(mojiLowerAccented, mojiUpperAccented) + cls(mojiEndPunct) + cls(pyWord),
	// œ not followed by an unaccented Latin letter.
	`[Œœ][^A-Za-z]`,
	// Common Windows-1252 two-character mojibake not covered above.
	`[ÂÃÎÐ]` + cls("€Šš¢£Ÿž\u00a0\u00ad®©°·»", mojiStartPunct, mojiEndPunct, "–—´"),
	`×[²³]`,
	// Windows-1252 mojibake of Arabic needs the 'common' characters, so four characters.
	`[ØÙ]` + cls(mojiCommon, mojiCurrency, mojiBad, mojiNumeric, mojiStartPunct, "ŸŠ®°µ»") +
		`[ØÙ]` + cls(mojiCommon, mojiCurrency, mojiBad, mojiNumeric, mojiStartPunct, "ŸŠ®°µ»"),
	// Windows-1252 starts of three-byte South Asian letters.
	`à[²µ¹¼½¾]`,
	// MacRoman mojibake.
	`√[±∂†≠®™´≤≥¥µø]`,
	`≈[°¢]`,
	`‚Ä[ìîïòôúùû†°¢π]`,
	`‚[âó][àä°ê]`,
	// Windows-1251 mojibake of U+2000-range characters, Latin-1 and Cyrillic.
	`вЂ`,
	`[ВГРС]` + cls(mojiC1, mojiBad, mojiStartPunct, mojiEndPunct, mojiCurrency, "°µ") + `[ВГРС]`,
	`ГўВЂВ.[A-Za-z ]`,
	// Windows-1252 encodings of 'à', 'á' and U+00A0 itself.
	`Ã[\x{a0}¡]`,
	`[a-z]` + cls(pySpace) + `?[ÃÂ] `,
	`^[ÃÂ] `,
	// Â before a character as an encoding of exactly that character.
	cls("a-z.,?!", mojiEndPunct) + `Â` + cls(" ", mojiStartPunct, mojiEndPunct),
	// Windows-1253 mojibake of U+2000-range characters, Latin-1 and Greek.
	`β€[™\x{a0}Ά\x{ad}®°]`,
	`[ΒΓΞΟ]` + cls(mojiC1, mojiBad, mojiStartPunct, mojiEndPunct, mojiCurrency, "°") + `[ΒΓΞΟ]`,
}, "|"))

// cls joins category strings into one regexp character class.
func cls(parts ...string) string { return "[" + strings.Join(parts, "") + "]" }

// isBad reports whether text looks like it contains mojibake.
func isBad(text string) bool { return badnessRE.MatchString(text) }

// Character classes of letters that begin or continue UTF-8 sequences when UTF-8 bytes are
// read as Latin-1-like encodings (ftfy's UTF8_CLUES).
const (
	utf8FirstOf2 = "ÂÃÄÅÆÇÈÉÊËÌÍÎÏÐÑÒÓÔÕÖ×ØÙÚÛÜÝÞßĂĆČĎĐĘĚĞİĹŃŇŐŘŞŢŮŰ" +
		"ΒΓΔΕΖΗΘΙΚΛΜΝΞΟΠΡΣΤΥΦΧΨΩΪΫάέήίВГДЕЖЗИЙКЛМНОПРСТУФХЦЧШЩЪЫЬЭЮЯ"
	utf8FirstOf3       = "àáâãäåæçèéêëìíîïăćčďęěĺŕΰαβγδεζηθικλμνξοабвгдежзийклмноп"
	utf8FirstOf4       = "ðóđğπσру"
	utf8ContinuationHi = "\u0080-\u00bf" + "ĄąĽľŁłŒœŚśŞşŠšŤťŸŹźŻżŽžƒˆˇ˘˛˜˝΄΅" +
		"ΆΈΉΊΌΎΏЁЂЃЄЅІЇЈЉЊЋЌЎЏёђѓєѕіїјљњћќўџҐґ"
	utf8Continuation       = utf8ContinuationHi + "–—―‘’‚“”„†‡•…‰‹›€№™" + " "
	utf8ContinuationStrict = utf8ContinuationHi + "†‡•‰‹›€№™"
)

// utf8DetectorRE matches a run of likely UTF-8 mojibake at the start of its input; the
// caller checks ftfy's lookbehind (the run must not follow a strict continuation character).
var (
	utf8DetectorRE = regexp.MustCompile(`^(?:` +
		cls(utf8FirstOf2) + cls(utf8Continuation) + `|` +
		cls(utf8FirstOf3) + cls(utf8Continuation) + `{2}|` +
		cls(utf8FirstOf4) + cls(utf8Continuation) + `{3})+`)
	utf8ContinuationStrictRE = regexp.MustCompile(`^` + cls(utf8ContinuationStrict) + `$`)
)
