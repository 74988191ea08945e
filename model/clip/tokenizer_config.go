package clip

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// Files of a Hugging Face tokenizer folder that LoadTokenizer reads.
const (
	vocabFile            = "vocab.json"
	mergesFile           = "merges.txt"
	tokenizerConfigFile  = "tokenizer_config.json"
	specialTokensMapFile = "special_tokens_map.json"
	addedTokensFile      = "added_tokens.json"
)

// DefaultMaxLength is the CLIP context length used when tokenizer_config.json gives no
// model_max_length.
const DefaultMaxLength = 77

// specialTokens names the special token strings of a tokenizer. The defaults are
// CLIPTokenizer's constructor defaults.
type specialTokens struct {
	bos, eos, unk, pad string
	maxLength          int
}

func defaultSpecialTokens() specialTokens {
	return specialTokens{
		bos:       clipStartOfText,
		eos:       clipEndOfText,
		unk:       clipEndOfText,
		pad:       clipEndOfText,
		maxLength: DefaultMaxLength,
	}
}

// tokenField is a special-token entry: a plain string or an AddedToken object
// {"content": ..., "lstrip": ..., ...}; null leaves the current value.
type tokenField struct {
	content string
	set     bool
}

func (f *tokenField) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		f.content, f.set = s, true
		return nil
	}
	var obj struct {
		Content *string `json:"content"`
	}
	if err := json.Unmarshal(b, &obj); err != nil {
		return fmt.Errorf("want a string or an object with \"content\": %w", err)
	}
	if obj.Content == nil {
		return errors.New("object has no \"content\"")
	}
	f.content, f.set = *obj.Content, true
	return nil
}

// specialTokensJSON is the part of tokenizer_config.json and special_tokens_map.json the
// tokenizer uses.
type specialTokensJSON struct {
	BOS            tokenField `json:"bos_token"`
	EOS            tokenField `json:"eos_token"`
	UNK            tokenField `json:"unk_token"`
	Pad            tokenField `json:"pad_token"`
	ModelMaxLength *float64   `json:"model_max_length"`
}

// applySpecialTokens reads an optional JSON file of special tokens over st; a missing file
// changes nothing. Fields that are present override: special_tokens_map.json is applied
// after tokenizer_config.json, as transformers does.
func applySpecialTokens(path string, st *specialTokens) error {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("clip: reading %s: %w", path, err)
	}
	var cfg specialTokensJSON
	if err := json.Unmarshal(data, &cfg); err != nil {
		return fmt.Errorf("clip: %s: %w", path, err)
	}
	for _, f := range []struct {
		name string
		src  tokenField
		dst  *string
	}{
		{"bos_token", cfg.BOS, &st.bos},
		{"eos_token", cfg.EOS, &st.eos},
		{"unk_token", cfg.UNK, &st.unk},
		{"pad_token", cfg.Pad, &st.pad},
	} {
		if !f.src.set {
			continue
		}
		if f.src.content == "" {
			return fmt.Errorf("clip: %s: field %s is empty", path, f.name)
		}
		*f.dst = f.src.content
	}
	if cfg.ModelMaxLength != nil {
		m := *cfg.ModelMaxLength
		// transformers writes a huge sentinel (1e30) for "no limit"; keep CLIP's 77 then.
		switch {
		case m >= 1<<31:
		case m < 2 || m != float64(int(m)):
			return fmt.Errorf("clip: %s: field model_max_length = %v, want an integer >= 2 (BOS and EOS)", path, m)
		default:
			st.maxLength = int(m)
		}
	}
	return nil
}

// readAddedTokens reads the optional added_tokens.json ({"<new1>": 49408, ...}).
func readAddedTokens(dir string) (map[string]int, error) {
	path := filepath.Join(dir, addedTokensFile)
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("clip: reading %s: %w", path, err)
	}
	var added map[string]int
	if err := json.Unmarshal(data, &added); err != nil {
		return nil, fmt.Errorf("clip: %s: %w", path, err)
	}
	return added, nil
}
