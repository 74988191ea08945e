package main

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/latexblend/latexblend/model/clip"
	"github.com/latexblend/latexblend/shapes"
)

const model = "../../../shapes/model"

// TestExportMatchesDataset checks that every array holds what shapes.Dataset and the
// model's tokenizers give for the same scenes, in order.
func TestExportMatchesDataset(t *testing.T) {
	const n = 5
	dir := t.TempDir()
	if err := run(n, poolSeed, model, dir); err != nil {
		t.Fatal(err)
	}
	want, err := shapes.Dataset(poolSeed, n, 64)
	if err != nil {
		t.Fatal(err)
	}
	read := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	imgs := read("images.u8")
	if len(imgs) != n*64*64*3 {
		t.Fatalf("images.u8 has %d bytes, want %d", len(imgs), n*64*64*3)
	}
	caps := strings.Split(strings.TrimSuffix(string(read("captions.txt")), "\n"), "\n")
	if len(caps) != n {
		t.Fatalf("%d captions, want %d", len(caps), n)
	}
	for i, s := range want {
		if caps[i] != s.Caption {
			t.Errorf("caption %d = %q, want %q", i, caps[i], s.Caption)
		}
		px := imgs[i*64*64*3:]
		for y := range 64 {
			for x := range 64 {
				c := s.Image.RGBAAt(x, y)
				if got := px[(y*64+x)*3 : (y*64+x)*3+3]; !bytes.Equal(got, []byte{c.R, c.G, c.B}) {
					t.Fatalf("scene %d pixel (%d,%d) = %v, want %v", i, x, y, got, c)
				}
			}
		}
	}
	for _, tc := range []struct{ file, tok string }{{"ids1.i32", "tokenizer"}, {"ids2.i32", "tokenizer_2"}} {
		tok, err := clip.LoadTokenizer(filepath.Join(model, tc.tok))
		if err != nil {
			t.Fatal(err)
		}
		raw := read(tc.file)
		ids := make([]int32, len(raw)/4)
		if err := binary.Read(bytes.NewReader(raw), binary.LittleEndian, ids); err != nil {
			t.Fatal(err)
		}
		if len(ids) != n*77 {
			t.Fatalf("%s holds %d ids, want %d", tc.file, len(ids), n*77)
		}
		for i, s := range want {
			for j, id := range tok.EncodePadded(s.Caption) {
				if ids[i*77+j] != int32(id) {
					t.Fatalf("%s row %d id %d = %d, want %d", tc.file, i, j, ids[i*77+j], id)
				}
			}
		}
	}
}

func TestExportRejectsMissingTokenizer(t *testing.T) {
	err := run(1, poolSeed, t.TempDir(), t.TempDir())
	if err == nil || !strings.Contains(err.Error(), "tokenizer") {
		t.Fatalf("err = %v, want one naming the tokenizer", err)
	}
}
