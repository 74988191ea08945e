package eval

import (
	"bufio"
	"encoding/json"
	"fmt"
	"image"
	"os"
	"path/filepath"

	"github.com/latexblend/latexblend/shapes"
	"github.com/latexblend/latexblend/shapes/judge"
)

// ResultsFile is the per-image log written under Config.Out: one JSON object per
// image with the method, prompt, seed, the labels the judge found and the verdicts
// on each asked concept.
const ResultsFile = "results.jsonl"

type resultLine struct {
	Method   Method   `json:"method"`
	Prompt   string   `json:"prompt"`
	Text     string   `json:"text"`
	Seed     int      `json:"seed"`
	Found    []string `json:"found"`
	Missing  []string `json:"missing,omitempty"`
	Bleeding []string `json:"bleeding,omitempty"`
	Present  []string `json:"labels"`
}

type resultLog struct {
	f *os.File
	w *bufio.Writer
}

func newResultLog(dir string) (*resultLog, error) {
	f, err := os.Create(filepath.Join(dir, ResultsFile))
	if err != nil {
		return nil, fmt.Errorf("eval: %w", err)
	}
	return &resultLog{f: f, w: bufio.NewWriter(f)}, nil
}

func (l *resultLog) add(m Method, pr Prompt, text string, seed int, v judge.Verdict) error {
	line := resultLine{Method: m, Prompt: pr.Name(), Text: text, Seed: seed, Present: v.Present(), Found: []string{}}
	for _, c := range pr.Concepts {
		if v.ConceptFound(c.Concept) {
			line.Found = append(line.Found, c.Name)
		} else {
			line.Missing = append(line.Missing, c.Name)
		}
		for _, k := range v.Bleeds(c.Concept) {
			line.Bleeding = append(line.Bleeding, fmt.Sprintf("%s@%s", c.Name, k))
		}
	}
	b, err := json.Marshal(line)
	if err != nil {
		return fmt.Errorf("eval: %w", err)
	}
	if _, err := l.w.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("eval: writing %s: %w", ResultsFile, err)
	}
	return nil
}

// Close flushes and closes the log; a second call does nothing.
func (l *resultLog) Close() error {
	if l.f == nil {
		return nil
	}
	err := l.w.Flush()
	if cerr := l.f.Close(); err == nil {
		err = cerr
	}
	l.f = nil
	if err != nil {
		return fmt.Errorf("eval: writing %s: %w", ResultsFile, err)
	}
	return nil
}

// writeGrid writes a method's images as <dir>/<method>.png: one row per prompt in
// prompt order, one column per seed.
func writeGrid(dir string, m Method, rows [][]image.Image) (string, error) {
	cols := 0
	for _, r := range rows {
		cols = max(cols, len(r))
	}
	var all []image.Image
	for _, r := range rows {
		for c := range cols {
			if c < len(r) {
				all = append(all, r[c])
			} else {
				all = append(all, image.NewRGBA(r[0].Bounds()))
			}
		}
	}
	path := filepath.Join(dir, string(m)+".png")
	if err := shapes.WritePNG(path, shapes.Grid(all, cols, 2)); err != nil {
		return "", fmt.Errorf("eval: grid of %s: %w", m, err)
	}
	return path, nil
}
