package diffusers

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/latexblend/latexblend/model/safetensors"
)

// identityVersion starts every digest, so a change of the recipe below changes every
// identity instead of silently colliding with old ones.
const identityVersion = "latexblend.model-identity/v1"

// identitySampleBytes is how much tensor data is hashed from each end of every weight
// file's data section: enough to tell apart two fine-tunes that share every shape
// (headers alone cannot), without reading gigabytes.
const identitySampleBytes = 4096

// Identity returns the hex SHA-256 identity of the model folder dir, using the default
// (non-variant) weights. See IdentityVariant.
func Identity(dir string) (string, error) { return IdentityVariant(dir, "") }

// IdentityVariant digests, in this order: model_index.json; then for each component
// of model_index.json sorted by name, its .json and .txt files sorted by name (configs,
// tokenizer vocabularies; shard index files excluded) and, for each of its weight files
// of the given variant, the safetensors header (length prefix and JSON) and the first
// and last 4 KiB of the data section. Every record is framed with its kind, its path
// relative to dir and its length, so no two different folders hash the same bytes.
// Two nodes with byte-identical configs and weight files get the same identity; its
// cost is independent of the weights' size.
func IdentityVariant(dir, variant string) (string, error) {
	m, err := Open(dir)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	io.WriteString(h, identityVersion+"\n")
	if err := hashFile(h, dir, IndexFile); err != nil {
		return "", err
	}
	for _, c := range m.Index.Components {
		if err := hashComponent(h, dir, c.Name, variant); err != nil {
			return "", err
		}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func hashComponent(h hash.Hash, dir, component, variant string) error {
	cdir := filepath.Join(dir, component)
	entries, err := os.ReadDir(cdir)
	if err != nil {
		return fmt.Errorf("diffusers: %w", err)
	}
	var configs []string
	for _, e := range entries {
		name := e.Name()
		// Stat, not the entry type: Hugging Face cache snapshots are symlinks to blobs.
		if strings.HasSuffix(name, ".index.json") || !isFile(filepath.Join(cdir, name)) {
			continue
		}
		if ext := filepath.Ext(name); ext == ".json" || ext == ".txt" {
			configs = append(configs, name)
		}
	}
	sort.Strings(configs)
	for _, name := range configs {
		if err := hashFile(h, dir, filepath.Join(component, name)); err != nil {
			return err
		}
	}
	files, err := WeightFiles(cdir, variant)
	if errors.Is(err, ErrNoWeights) {
		if others, _ := filepath.Glob(filepath.Join(cdir, "*.safetensors")); len(others) > 0 {
			return fmt.Errorf("diffusers: identity of %s: %w", dir, err)
		}
		return nil // tokenizer, scheduler: nothing to load
	}
	if err != nil {
		return err
	}
	for _, p := range files {
		if err := hashWeights(h, dir, p); err != nil {
			return err
		}
	}
	return nil
}

// writeRecord frames one piece of content.
func writeRecord(h hash.Hash, kind, rel string, data []byte) {
	io.WriteString(h, kind+"\x00"+filepath.ToSlash(rel)+"\x00")
	var n [8]byte
	binary.LittleEndian.PutUint64(n[:], uint64(len(data)))
	h.Write(n[:])
	h.Write(data)
}

func hashFile(h hash.Hash, dir, rel string) error {
	data, err := os.ReadFile(filepath.Join(dir, rel))
	if err != nil {
		return fmt.Errorf("diffusers: %w", err)
	}
	writeRecord(h, "file", rel, data)
	return nil
}

// hashWeights hashes a weight file's validated header and a sample of its data.
func hashWeights(h hash.Hash, dir, path string) error {
	rel, err := filepath.Rel(dir, path)
	if err != nil {
		rel = filepath.Base(path)
	}
	f, err := safetensors.Open(path)
	if err != nil {
		return fmt.Errorf("diffusers: identity: %w", err)
	}
	defer f.Close()
	header := f.HeaderJSON()
	writeRecord(h, "safetensors-header", rel, header)

	raw, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("diffusers: %w", err)
	}
	defer raw.Close()
	st, err := raw.Stat()
	if err != nil {
		return fmt.Errorf("diffusers: %w", err)
	}
	dataStart := 8 + int64(len(header))
	dataLen := st.Size() - dataStart
	head := make([]byte, min(identitySampleBytes, dataLen))
	tail := make([]byte, min(identitySampleBytes, dataLen))
	if _, err := raw.ReadAt(head, dataStart); err != nil {
		return fmt.Errorf("diffusers: identity: reading %s: %w", path, err)
	}
	if _, err := raw.ReadAt(tail, st.Size()-int64(len(tail))); err != nil {
		return fmt.Errorf("diffusers: identity: reading %s: %w", path, err)
	}
	writeRecord(h, "safetensors-data-head", rel, head)
	writeRecord(h, "safetensors-data-tail", rel, tail)
	return nil
}
