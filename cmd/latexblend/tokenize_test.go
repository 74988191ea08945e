package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/latexblend/latexblend/internal/golden"
)

func runTokenize(t *testing.T, args ...string) (string, error) {
	t.Helper()
	root := newRootCmd()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(append([]string{"tokenize"}, args...))
	err := root.Execute()
	return out.String(), err
}

func TestTokenizeCommand(t *testing.T) {
	dir := golden.Path(t, "tiny-sdxl", "tokenizer_2")
	out, err := runTokenize(t, "--tokenizer", dir, "--add-token", "<new1>", "photo of <new1> dog")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Count(out, "\n") != 1 {
		t.Errorf("output is not one line: %q", out)
	}
	var ids []int
	if err := json.Unmarshal([]byte(out), &ids); err != nil {
		t.Fatalf("output %q is not a JSON array of ints: %v", out, err)
	}
	want := []int{49406, 1125, 539, 49408, 1929, 49407}
	if len(ids) != 77 {
		t.Fatalf("%d ids, want 77", len(ids))
	}
	for i, id := range ids {
		w := 0 // tokenizer_2 pads with "!" = 0
		if i < len(want) {
			w = want[i]
		}
		if id != w {
			t.Fatalf("ids = %v, want %v then pad 0", ids, want)
		}
	}
}

func TestTokenizeCommandErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no folder flag", []string{"a dog"}, "--tokenizer"},
		{"missing folder", []string{"--tokenizer", t.TempDir(), "a dog"}, "vocab"},
		{"no text", []string{"--tokenizer", "x"}, "arg"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := runTokenize(t, tc.args...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error = %v, want one mentioning %q", err, tc.want)
			}
		})
	}
}
