package clip

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
)

// maxMerges is how many merges.txt lines after the header CLIPTokenizer uses
// (49152 - 256 - 2): later lines, present in OpenAI's raw merge list, are ignored.
const maxMerges = 49152 - 256 - 2

// maxCachedPieces bounds the per-tokenizer BPE cache so arbitrary prompts in a long-running
// server cannot grow it without limit.
const maxCachedPieces = 1 << 16

// Tokenizer is a CLIP byte-level BPE tokenizer loaded from a Hugging Face tokenizer folder.
// It is safe for concurrent use; AddTokens may run concurrently with encoding.
type Tokenizer struct {
	dir     string
	vocab   map[string]int
	tokens  map[int]string
	ranks   map[symbolPair]int
	special specialTokens
	bos     int
	eos     int
	unk     int
	pad     int

	mu        sync.RWMutex
	added     map[string]int // whole-string tokens matched before BPE
	addedList []string       // added tokens by id, for matching and listing
	size      int            // vocabulary entries plus added tokens: the next new id

	cache     sync.Map // pre-token -> []string BPE symbols
	cacheSize int64
	cacheMu   sync.Mutex
}

// LoadTokenizer reads vocab.json and merges.txt from dir, plus tokenizer_config.json,
// special_tokens_map.json and added_tokens.json when present. BOS, EOS, UNK and pad ids are
// looked up in the vocabulary; errors name the file and field at fault.
func LoadTokenizer(dir string) (*Tokenizer, error) {
	t := &Tokenizer{dir: dir, special: defaultSpecialTokens(), added: map[string]int{}}
	var err error
	if t.vocab, t.tokens, err = readVocab(filepath.Join(dir, vocabFile)); err != nil {
		return nil, err
	}
	if t.ranks, err = readMerges(filepath.Join(dir, mergesFile)); err != nil {
		return nil, err
	}
	for _, name := range []string{tokenizerConfigFile, specialTokensMapFile} {
		if err := applySpecialTokens(filepath.Join(dir, name), &t.special); err != nil {
			return nil, err
		}
	}
	t.size = len(t.vocab)
	for _, f := range []struct {
		name, token string
		id          *int
	}{
		{"bos_token", t.special.bos, &t.bos},
		{"eos_token", t.special.eos, &t.eos},
		{"unk_token", t.special.unk, &t.unk},
		{"pad_token", t.special.pad, &t.pad},
	} {
		id, ok := t.vocab[f.token]
		if !ok {
			return nil, fmt.Errorf("clip: %s: %s %q is not in %s",
				filepath.Join(dir, tokenizerConfigFile), f.name, f.token, filepath.Join(dir, vocabFile))
		}
		*f.id = id
	}
	if err := t.loadAddedTokens(); err != nil {
		return nil, err
	}
	return t, nil
}

// loadAddedTokens registers added_tokens.json entries, which must continue the id sequence
// from the vocabulary size like transformers requires of slow tokenizers.
func (t *Tokenizer) loadAddedTokens() error {
	added, err := readAddedTokens(t.dir)
	if err != nil {
		return err
	}
	names := make([]string, 0, len(added))
	for tok := range added {
		names = append(names, tok)
	}
	sort.Slice(names, func(i, j int) bool { return added[names[i]] < added[names[j]] })
	path := filepath.Join(t.dir, addedTokensFile)
	for _, tok := range names {
		if tok == "" {
			return fmt.Errorf("clip: %s: empty token", path)
		}
		if _, inVocab := t.vocab[tok]; inVocab {
			return fmt.Errorf("clip: %s: token %q is already in %s", path, tok, vocabFile)
		}
		if added[tok] != t.size {
			return fmt.Errorf("clip: %s: token %q has id %d, want %d (ids must continue from the vocabulary size)",
				path, tok, added[tok], t.size)
		}
		t.addLocked(tok)
	}
	return nil
}

// readVocab reads vocab.json: a JSON object from token to id.
func readVocab(path string) (map[string]int, map[int]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("clip: reading vocabulary: %w", err)
	}
	var vocab map[string]int
	if err := json.Unmarshal(data, &vocab); err != nil {
		return nil, nil, fmt.Errorf("clip: %s: want a JSON object of token ids: %w", path, err)
	}
	if len(vocab) == 0 {
		return nil, nil, fmt.Errorf("clip: %s: vocabulary is empty", path)
	}
	tokens := make(map[int]string, len(vocab))
	for tok, id := range vocab {
		// Ids must be exactly 0..n-1: they index embedding rows, and added tokens take
		// ids from n on.
		if id < 0 || id >= len(vocab) {
			return nil, nil, fmt.Errorf("clip: %s: token %q has id %d, want 0..%d (one id per entry)",
				path, tok, id, len(vocab)-1)
		}
		if other, dup := tokens[id]; dup {
			a, b := other, tok
			if b < a {
				a, b = b, a
			}
			return nil, nil, fmt.Errorf("clip: %s: tokens %q and %q share id %d", path, a, b, id)
		}
		tokens[id] = tok
	}
	return vocab, tokens, nil
}

// readMerges reads merges.txt: a "#version" header line, then one "left right" pair per
// line, ranked by line order.
func readMerges(path string) (map[symbolPair]int, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("clip: reading merges: %w", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(bytes.TrimSpace(data)))
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	if !sc.Scan() || !strings.HasPrefix(sc.Text(), "#version") {
		return nil, fmt.Errorf("clip: %s: line 1: want a \"#version\" header", path)
	}
	ranks := make(map[symbolPair]int)
	for line := 2; sc.Scan() && len(ranks) < maxMerges; line++ {
		fields := strings.Fields(sc.Text())
		if len(fields) != 2 {
			return nil, fmt.Errorf("clip: %s: line %d: want two symbols, got %q", path, line, sc.Text())
		}
		p := symbolPair{fields[0], fields[1]}
		if _, dup := ranks[p]; dup {
			return nil, fmt.Errorf("clip: %s: line %d: merge %q repeats an earlier line", path, line, sc.Text())
		}
		ranks[p] = line - 2
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("clip: %s: %w", path, err)
	}
	return ranks, nil
}

// BOS returns the beginning-of-sequence id (<|startoftext|>, 49406 in CLIP's vocabulary).
func (t *Tokenizer) BOS() int { return t.bos }

// EOS returns the end-of-sequence id (<|endoftext|>, 49407 in CLIP's vocabulary).
func (t *Tokenizer) EOS() int { return t.eos }

// Pad returns the padding id: EOS for SDXL's tokenizer, 0 ("!") for its tokenizer_2.
func (t *Tokenizer) Pad() int { return t.pad }

// Unknown returns the id of the unknown token, used for strings not in the vocabulary.
func (t *Tokenizer) Unknown() int { return t.unk }

// MaxLength returns the padded sequence length (model_max_length, 77 for CLIP).
func (t *Tokenizer) MaxLength() int { return t.special.maxLength }

// VocabSize returns the number of vocabulary.json entries, excluding added tokens.
func (t *Tokenizer) VocabSize() int { return len(t.vocab) }

// Len returns the vocabulary size plus the added tokens: the number of embedding rows a text
// encoder needs (len(tokenizer) in transformers).
func (t *Tokenizer) Len() int {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.size
}

// Dir returns the folder the tokenizer was loaded from.
func (t *Tokenizer) Dir() string { return t.dir }
