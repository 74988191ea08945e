package blend

import (
	"fmt"
	"slices"
)

// Slot is where one concept sits in the prompt, in full-sequence token positions (BOS
// at 0), found as the reference finds it (spec §2, "Position finding"): the first
// occurrence of the class noun's tokens, plus the token just before it (the article,
// whose place the modifier token took during extraction).
type Slot struct {
	ClassNoun string
	// Start is the article/modifier slot; the noun occupies Start+1 … End-1.
	Start, End int
}

// Len is the number of tokens in the slot (the entry's n_tok).
func (s Slot) Len() int { return s.End - s.Start }

// Nouns returns the noun's token positions.
func (s Slot) Nouns() []int {
	out := make([]int, 0, s.End-s.Start-1)
	for p := s.Start + 1; p < s.End; p++ {
		out = append(out, p)
	}
	return out
}

// Positions returns every position of the slot (modifier slot first).
func (s Slot) Positions() []int {
	out := make([]int, 0, s.Len())
	for p := s.Start; p < s.End; p++ {
		out = append(out, p)
	}
	return out
}

// Tokenizer is the part of clip.Tokenizer positions need (tokenizer 1 of SDXL).
type Tokenizer interface {
	EncodePadded(text string) []int
	Encode(text string) []int
	EOS() int
}

// FindSlots locates each class noun in the prompt. It fails, naming the noun, when a
// noun is absent, lies beyond the 77-token window, is the prompt's first word (its slot
// would be BOS), is given twice, or when two slots overlap.
func FindSlots(tok Tokenizer, prompt string, nouns []string) ([]Slot, error) {
	ids := stripSpecial(tok.EncodePadded(prompt), tok.EOS())
	seen := map[string]string{}
	slots := make([]Slot, 0, len(nouns))
	for _, noun := range nouns {
		nids := stripSpecial(tok.EncodePadded(noun), tok.EOS())
		if len(nids) == 0 {
			return nil, fmt.Errorf("blend: class noun %q has no tokens", noun)
		}
		key := fmt.Sprint(nids)
		if prev, dup := seen[key]; dup {
			return nil, fmt.Errorf("blend: the same concept is given twice (class nouns %q and %q): each concept needs its own noun in the prompt", prev, noun)
		}
		seen[key] = noun
		i := indexOf(ids, nids)
		if i < 0 {
			if indexOf(tok.Encode(prompt), nids) >= 0 {
				return nil, fmt.Errorf("blend: class noun %q lies beyond the 77-token window of the prompt (CLIP truncates it)", noun)
			}
			return nil, fmt.Errorf("blend: class noun %q is not in the prompt %q", noun, prompt)
		}
		if i == 0 {
			return nil, fmt.Errorf("blend: class noun %q is the prompt's first word: it needs a word before it (\"a %s\") whose slot the concept's modifier takes", noun, noun)
		}
		// i indexes the ids without BOS, so in full-sequence positions the noun is
		// [i+1, i+L] and the article is at i.
		slots = append(slots, Slot{ClassNoun: noun, Start: i, End: i + len(nids) + 1})
	}
	for a := range slots {
		for b := a + 1; b < len(slots); b++ {
			if slots[a].Start < slots[b].End && slots[b].Start < slots[a].End {
				return nil, fmt.Errorf("blend: the slots of %q [%d, %d) and %q [%d, %d) overlap: each concept needs its own article + noun",
					slots[a].ClassNoun, slots[a].Start, slots[a].End, slots[b].ClassNoun, slots[b].Start, slots[b].End)
			}
		}
	}
	return slots, nil
}

// stripSpecial drops BOS and cuts at the first EOS, as the reference does with the
// padded ids.
func stripSpecial(ids []int, eos int) []int {
	if len(ids) > 0 {
		ids = ids[1:]
	}
	if i := slices.Index(ids, eos); i >= 0 {
		ids = ids[:i]
	}
	return ids
}

// indexOf is the reference's find_sublist_indices: the first i with long[i:i+len(short)]
// == short, or -1.
func indexOf(long, short []int) int {
	for i := 0; i+len(short) <= len(long); i++ {
		if slices.Equal(long[i:i+len(short)], short) {
			return i
		}
	}
	return -1
}
