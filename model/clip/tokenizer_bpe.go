package clip

import "math"

// endOfWord marks the last symbol of a pre-token, so "dog</w>" (a whole word) and "dog" (a
// word-initial piece) are different vocabulary entries.
const endOfWord = "</w>"

// symbolPair is two adjacent BPE symbols; merges.txt ranks them.
type symbolPair struct{ left, right string }

// bpe splits one byte-mapped pre-token into vocabulary symbols: start from single symbols
// (the last one carrying </w>) and repeatedly merge every occurrence, left to right, of the
// adjacent pair with the lowest merge rank until no adjacent pair is ranked.
func bpe(symbols []string, ranks map[symbolPair]int) []string {
	word := make([]string, len(symbols))
	copy(word, symbols)
	word[len(word)-1] += endOfWord
	for len(word) > 1 {
		best, bestRank := symbolPair{}, math.MaxInt
		for i := 0; i+1 < len(word); i++ {
			p := symbolPair{word[i], word[i+1]}
			if r, ok := ranks[p]; ok && r < bestRank {
				best, bestRank = p, r
			}
		}
		if bestRank == math.MaxInt {
			break
		}
		merged := word[:0:0]
		for i := 0; i < len(word); {
			if i+1 < len(word) && word[i] == best.left && word[i+1] == best.right {
				merged = append(merged, best.left+best.right)
				i += 2
				continue
			}
			merged = append(merged, word[i])
			i++
		}
		word = merged
	}
	return word
}
