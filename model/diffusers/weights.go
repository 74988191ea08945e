package diffusers

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/latexblend/latexblend/model/safetensors"
)

// ErrNoWeights is wrapped when a component folder holds no weights file for the
// requested variant (tokenizers and schedulers have none).
var ErrNoWeights = errors.New("no safetensors weights")

// weightBaseNames are the weight file stems, diffusers' then transformers'.
var weightBaseNames = []string{"diffusion_pytorch_model", "model"}

// WeightFiles returns the safetensors files holding a component's weights: one file,
// or the shards listed by a "*.safetensors.index.json". variant "" selects the default
// files, "fp16" the "<stem>.fp16.safetensors" ones.
func WeightFiles(componentDir, variant string) ([]string, error) {
	files, _, err := resolveWeights(componentDir, variant)
	return files, err
}

// resolveWeights is WeightFiles, also returning the index file when sharded.
func resolveWeights(componentDir, variant string) (files []string, index string, err error) {
	infix := ""
	if variant != "" {
		if strings.ContainsAny(variant, `/\`) {
			return nil, "", fmt.Errorf("diffusers: invalid weights variant %q", variant)
		}
		infix = "." + variant
	}
	var tried []string
	for _, stem := range weightBaseNames {
		single := filepath.Join(componentDir, stem+infix+".safetensors")
		if isFile(single) {
			return []string{single}, "", nil
		}
		idx := single + ".index.json"
		if isFile(idx) {
			files, err := shardFiles(componentDir, idx)
			return files, idx, err
		}
		tried = append(tried, filepath.Base(single), filepath.Base(idx))
	}
	err = fmt.Errorf("diffusers: %s: %w (looked for %s)", componentDir, ErrNoWeights, strings.Join(tried, ", "))
	if others, _ := filepath.Glob(filepath.Join(componentDir, "*.safetensors")); len(others) > 0 {
		for i := range others {
			others[i] = filepath.Base(others[i])
		}
		err = fmt.Errorf("%w; present: %s (choose the matching variant)", err, strings.Join(others, ", "))
	}
	return nil, "", err
}

func isFile(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular()
}

// shardIndex is the JSON of a sharded checkpoint's index file.
type shardIndex struct {
	WeightMap map[string]string `json:"weight_map"`
}

// readShardIndex parses an index file; shard names must be plain file names in the
// component folder.
func readShardIndex(componentDir, index string) (map[string]string, error) {
	data, err := os.ReadFile(index)
	if err != nil {
		return nil, fmt.Errorf("diffusers: %w", err)
	}
	var ix shardIndex
	if err := json.Unmarshal(data, &ix); err != nil {
		return nil, fmt.Errorf("diffusers: %s: %w", index, err)
	}
	if len(ix.WeightMap) == 0 {
		return nil, fmt.Errorf("diffusers: %s: weight_map is empty", index)
	}
	for name, shard := range ix.WeightMap {
		if shard != filepath.Base(shard) || shard == "." || shard == ".." || strings.Contains(shard, `\`) {
			return nil, fmt.Errorf("diffusers: %s: tensor %q: shard %q is not a file name in %s", index, name, shard, componentDir)
		}
	}
	return ix.WeightMap, nil
}

func shardFiles(componentDir, index string) ([]string, error) {
	m, err := readShardIndex(componentDir, index)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var files []string
	for _, shard := range m {
		if !seen[shard] {
			seen[shard] = true
			files = append(files, filepath.Join(componentDir, shard))
		}
	}
	sort.Strings(files)
	return files, nil
}

// Weights is a component's weights across one or more safetensors files, read on
// demand. Its methods are safe for concurrent use.
type Weights struct {
	dir   string
	files []*safetensors.File
	owner map[string]int // tensor name → index into files
	names []string
}

// OpenWeights opens a component's weight files (see WeightFiles) and validates them:
// every header, no tensor in two shards, and a shard index that matches the shards.
func OpenWeights(componentDir, variant string) (*Weights, error) {
	paths, index, err := resolveWeights(componentDir, variant)
	if err != nil {
		return nil, err
	}
	w := &Weights{dir: componentDir, owner: map[string]int{}}
	for i, p := range paths {
		f, err := safetensors.Open(p)
		if err != nil {
			w.Close()
			return nil, fmt.Errorf("diffusers: %w", err)
		}
		w.files = append(w.files, f)
		for _, name := range f.Names() {
			if j, dup := w.owner[name]; dup {
				w.Close()
				return nil, fmt.Errorf("diffusers: tensor %q is in both %s and %s", name, paths[j], p)
			}
			w.owner[name] = i
			w.names = append(w.names, name)
		}
	}
	sort.Strings(w.names)
	if index != "" {
		if err := w.checkShardIndex(index); err != nil {
			w.Close()
			return nil, err
		}
	}
	return w, nil
}

// checkShardIndex verifies the index names each tensor's real shard.
func (w *Weights) checkShardIndex(index string) error {
	m, err := readShardIndex(w.dir, index)
	if err != nil {
		return err
	}
	var problems []string
	for _, name := range sortedKeys(m) {
		i, ok := w.owner[name]
		switch {
		case !ok:
			problems = append(problems, fmt.Sprintf("tensor %q listed in the index is in no shard", name))
		case filepath.Base(w.files[i].Path()) != m[name]:
			problems = append(problems, fmt.Sprintf("tensor %q is in %s, the index says %s", name, filepath.Base(w.files[i].Path()), m[name]))
		}
	}
	for _, name := range w.names {
		if _, ok := m[name]; !ok {
			problems = append(problems, fmt.Sprintf("tensor %q is not in the index", name))
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("diffusers: %s does not match its shards:\n  %s", index, strings.Join(problems, "\n  "))
	}
	return nil
}

// Path describes the weights for error messages: the file, or the folder when sharded.
func (w *Weights) Path() string {
	if len(w.files) == 1 {
		return w.files[0].Path()
	}
	return w.dir
}

// Files returns the weight file paths.
func (w *Weights) Files() []string {
	out := make([]string, len(w.files))
	for i, f := range w.files {
		out[i] = f.Path()
	}
	return out
}

// Names returns all tensor names, sorted.
func (w *Weights) Names() []string { return append([]string(nil), w.names...) }

// Info describes one tensor.
func (w *Weights) Info(name string) (safetensors.TensorInfo, bool) {
	i, ok := w.owner[name]
	if !ok {
		return safetensors.TensorInfo{}, false
	}
	return w.files[i].Info(name)
}

func (w *Weights) file(name string) (*safetensors.File, error) {
	i, ok := w.owner[name]
	if !ok {
		return nil, fmt.Errorf("diffusers: %s: tensor %q: %w", w.Path(), name, safetensors.ErrNotFound)
	}
	return w.files[i], nil
}

// Float32 reads a tensor as float32 (see safetensors.File.Float32).
func (w *Weights) Float32(name string) ([]float32, []int, error) {
	f, err := w.file(name)
	if err != nil {
		return nil, nil, err
	}
	return f.Float32(name)
}

// Float32Into reads a tensor into dst (see safetensors.File.Float32Into).
func (w *Weights) Float32Into(name string, dst []float32) error {
	f, err := w.file(name)
	if err != nil {
		return err
	}
	return f.Float32Into(name, dst)
}

// Int64 reads an integer tensor (see safetensors.File.Int64).
func (w *Weights) Int64(name string) ([]int64, []int, error) {
	f, err := w.file(name)
	if err != nil {
		return nil, nil, err
	}
	return f.Int64(name)
}

// Close closes every file.
func (w *Weights) Close() error {
	var errs []error
	for _, f := range w.files {
		errs = append(errs, f.Close())
	}
	return errors.Join(errs...)
}
