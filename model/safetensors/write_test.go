package safetensors

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

func TestMarshalMatchesWriteFileAndOpenBytes(t *testing.T) {
	tensors := []Tensor{
		{Name: "b", Shape: []int{2, 3}, F32: []float32{1, 2, 3, 4, 5, 6}},
		{Name: "a", Shape: []int{2}, DType: F16, F32: []float32{0.5, -2}},
	}
	md := map[string]string{"format": "test"}
	path := filepath.Join(t.TempDir(), "x.safetensors")
	if err := WriteFile(path, tensors, md); err != nil {
		t.Fatal(err)
	}
	onDisk, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	mem, err := Marshal(tensors, md)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(onDisk, mem) {
		t.Fatal("Marshal and WriteFile produce different bytes")
	}
	f, err := OpenBytes("mem", mem)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got, shape, err := f.Float32("b")
	if err != nil || len(shape) != 2 || got[5] != 6 {
		t.Fatalf("OpenBytes read b = %v %v %v", got, shape, err)
	}
	if f.Metadata()["format"] != "test" {
		t.Fatalf("metadata %v", f.Metadata())
	}
	if _, err := OpenBytes("bad", mem[:10]); err == nil {
		t.Fatal("truncated bytes accepted")
	}
	if _, err := Marshal([]Tensor{{Name: "x", Shape: []int{3}, F32: []float32{1}}}, nil); err == nil {
		t.Fatal("Marshal accepted a shape/data mismatch")
	}
}
