package eval

import (
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/latexblend/latexblend/blend"
	"github.com/latexblend/latexblend/trainer"
)

// committed holds the committed eval entries and deltas (entries/), so the command
// finds them from any working directory.
//
//go:embed entries
var committed embed.FS

// DefaultEntriesDir is where --retrain writes, relative to the repository root.
const DefaultEntriesDir = "shapes/eval/entries"

// EntryFile and DeltaFile name a concept's files in an entries folder.
func EntryFile(name string) string { return name + ".entry.safetensors" }

// DeltaFile names a concept's delta file in an entries folder.
func DeltaFile(name string) string { return name + ".delta.safetensors" }

// Bank holds the eval concepts' entries and deltas by concept name.
type Bank struct {
	Entries map[string]*blend.Entry
	Deltas  map[string]*trainer.Delta
}

// LoadBank reads the entry and delta of every concept from dir, or from the committed
// (embedded) files when dir is "". Each file must be the concept's: its class noun and
// modifier token.
func LoadBank(dir string, concepts []EvalConcept) (*Bank, error) {
	var fsys fs.FS = os.DirFS(dir)
	where := dir
	if dir == "" {
		sub, err := fs.Sub(committed, "entries")
		if err != nil {
			return nil, fmt.Errorf("eval: committed entries: %w", err)
		}
		fsys, where = sub, "the committed "+DefaultEntriesDir
	}
	b := &Bank{Entries: map[string]*blend.Entry{}, Deltas: map[string]*trainer.Delta{}}
	for _, c := range concepts {
		e, err := readEntry(fsys, EntryFile(c.Name))
		if err != nil {
			return nil, bankError(where, EntryFile(c.Name), err)
		}
		data, err := fs.ReadFile(fsys, DeltaFile(c.Name))
		if err != nil {
			return nil, bankError(where, DeltaFile(c.Name), err)
		}
		d, err := trainer.DecodeDelta(data)
		if err != nil {
			return nil, bankError(where, DeltaFile(c.Name), err)
		}
		cls := c.Class.String()
		switch {
		case e.ClassNoun != cls || e.ModifierToken != c.Token:
			return nil, fmt.Errorf("eval: %s in %s is for %s %q, want %s %q", EntryFile(c.Name), where, e.ModifierToken, e.ClassNoun, c.Token, cls)
		case d.ClassNoun != cls || d.ModifierToken != c.Token:
			return nil, fmt.Errorf("eval: %s in %s is for %s %q, want %s %q", DeltaFile(c.Name), where, d.ModifierToken, d.ClassNoun, c.Token, cls)
		}
		b.Entries[c.Name], b.Deltas[c.Name] = e, d
	}
	return b, nil
}

func bankError(where, file string, err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("eval: %s has no %s (build the eval concepts with `latexblend eval --retrain`): %w", where, file, err)
	}
	return fmt.Errorf("eval: %s in %s: %w", file, where, err)
}

// readEntry reads an entry file from fsys (blend reads entries from paths, so an
// embedded file goes through a temporary copy).
func readEntry(fsys fs.FS, name string) (*blend.Entry, error) {
	data, err := fs.ReadFile(fsys, name)
	if err != nil {
		return nil, err
	}
	tmp, err := os.CreateTemp("", "eval-entry-*.safetensors")
	if err != nil {
		return nil, err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return nil, err
	}
	if err := tmp.Close(); err != nil {
		return nil, err
	}
	return blend.ReadEntry(tmp.Name())
}

// CheckModel refuses a bank made on another base model than identity (the model at
// dir), naming the first concept that differs.
func (b *Bank) CheckModel(dir, identity string, concepts []EvalConcept) error {
	for _, c := range concepts {
		if id := b.Entries[c.Name].BaseModel; id != identity {
			return fmt.Errorf("eval: the %s entry was made on base model %s, but %s is %s; rebuild the eval concepts with `latexblend eval --retrain --model %s`",
				c.Name, id, dir, identity, dir)
		}
		if id := b.Deltas[c.Name].BaseModelID; id != identity {
			return fmt.Errorf("eval: the %s delta was trained on base model %s, but %s is %s; rebuild the eval concepts with `latexblend eval --retrain --model %s`",
				c.Name, id, dir, identity, dir)
		}
	}
	return nil
}
