package clip

// byteSymbols maps every byte to the printable rune GPT-2/CLIP BPE uses for it: bytes that
// are already printable Latin-1 (33–126, 161–172, 174–255) keep their code point and the
// other 68 take 256, 257, … in byte order, so no BPE symbol is whitespace or a control.
var byteSymbols, symbolBytes = buildByteSymbols()

func buildByteSymbols() ([256]rune, map[rune]byte) {
	var table [256]rune
	inverse := make(map[rune]byte, 256)
	next := rune(256)
	for b := 0; b < 256; b++ {
		printable := (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255)
		if printable {
			table[b] = rune(b)
		} else {
			table[b] = next
			next++
		}
		inverse[table[b]] = byte(b)
	}
	return table, inverse
}

// byteSymbolsOf returns the BPE symbols of a pre-token's UTF-8 bytes, one per byte.
func byteSymbolsOf(piece string) []string {
	out := make([]string, len(piece))
	for i := 0; i < len(piece); i++ {
		out[i] = string(byteSymbols[piece[i]])
	}
	return out
}
