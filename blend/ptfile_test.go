package blend

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// pickler writes the few pickle opcodes torch.save uses (protocol 2).
type pickler struct{ bytes.Buffer }

func (p *pickler) op(b ...byte) { p.Write(b) }
func (p *pickler) str(s string) {
	p.op('X')
	binary.Write(&p.Buffer, binary.LittleEndian, uint32(len(s)))
	p.WriteString(s)
}
func (p *pickler) global(mod, name string) { p.op('c'); p.WriteString(mod + "\n" + name + "\n") }
func (p *pickler) int(v int) {
	p.op('J')
	binary.Write(&p.Buffer, binary.LittleEndian, int32(v))
}

// tensor pickles torch._utils._rebuild_tensor_v2 over storage key "0" (fp16, numel).
func (p *pickler) tensor(numel, offset int, size, stride []int) {
	p.global("torch._utils", "_rebuild_tensor_v2")
	p.op('(')
	p.op('(')
	p.str("storage")
	p.global("torch", "HalfStorage")
	p.str("0")
	p.str("cuda:0")
	p.int(numel)
	p.op('t', 'Q')
	p.int(offset)
	p.op('(')
	for _, s := range size {
		p.int(s)
	}
	p.op('t', '(')
	for _, s := range stride {
		p.int(s)
	}
	p.op('t', 0x89)
	p.global("collections", "OrderedDict")
	p.op(')', 'R', 't', 'R')
}

// half encodes a small non-negative integer as IEEE binary16.
func half(v float64) uint16 {
	if v == 0 {
		return 0
	}
	e := math.Floor(math.Log2(v))
	mant := (v/math.Exp2(e) - 1) * 1024
	return uint16(int(e+15)<<10 | int(mant))
}

// writeTorchBank writes a reference-style bank: two modules whose k and v are strided
// views into one fp16 storage of 4 rows × 3 channels (row r holds 10r, 10r+1, 10r+2).
func writeTorchBank(t *testing.T, path string) {
	t.Helper()
	var p pickler
	p.op(0x80, 2, '}', '(')
	for _, mod := range []string{"down_blocks.1.attn2.processor", "up_blocks.0.attn2.processor"} {
		p.str(mod)
		p.op('}', '(')
		p.str("k")
		p.tensor(12, 3, []int{2, 3}, []int{3, 1}) // rows 1, 2
		p.str("v")
		p.tensor(12, 6, []int{2, 3}, []int{3, 1}) // rows 2, 3
		p.op('u')
	}
	p.op('u', '.')
	var storage bytes.Buffer
	for r := 0; r < 4; r++ {
		for c := 0; c < 3; c++ {
			binary.Write(&storage, binary.LittleEndian, half(float64(10*r+c)))
		}
	}
	var zb bytes.Buffer
	zw := zip.NewWriter(&zb)
	for name, data := range map[string][]byte{"archive/data.pkl": p.Bytes(), "archive/data/0": storage.Bytes(), "archive/version": []byte("3\n")} {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Store})
		if err != nil {
			t.Fatal(err)
		}
		w.Write(data)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, zb.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestReadTorchBank(t *testing.T) {
	path := filepath.Join(t.TempDir(), "n_2_dog_1500.pt")
	writeTorchBank(t, path)
	e, err := ReadTorchBank(path, "dog")
	if err != nil {
		t.Fatal(err)
	}
	if e.ClassNoun != "dog" || e.NTok != 2 || e.BaseModel != "" || len(e.Layers) != 2 {
		t.Fatalf("entry %+v", e)
	}
	l, ok := e.Layers["down_blocks.1.attn2"]
	if !ok {
		t.Fatalf("modules %v: the .processor suffix must be dropped", e.Modules())
	}
	if !slices.Equal(l.K, []float32{10, 11, 12, 20, 21, 22}) || !slices.Equal(l.V, []float32{20, 21, 22, 30, 31, 32}) || l.Channels != 3 {
		t.Errorf("strided views read as k=%v v=%v C=%d", l.K, l.V, l.Channels)
	}
	// LoadConcept picks the reader by extension.
	if _, err := LoadConcept("dog", path); err != nil {
		t.Errorf("LoadConcept: %v", err)
	}
	bad := filepath.Join(t.TempDir(), "bad.pt")
	os.WriteFile(bad, []byte("not a torch file"), 0o644)
	if _, err := ReadTorchBank(bad, "dog"); err == nil || !strings.Contains(err.Error(), "safetensors.torch.save_file") {
		t.Errorf("unreadable bank: error %v, want one saying how to convert it", err)
	}
}
