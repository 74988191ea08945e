package safetensors

import (
	"math"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

func TestWriteReadRoundTrip(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "x.safetensors")
	vals := []float32{0, 1, -2.5, 3.25, 1e-3, -65504, 0.1}
	tensors := []Tensor{
		{Name: "b.f16", Shape: []int{7}, DType: F16, F32: vals},
		{Name: "a.f32", Shape: []int{1, 7}, F32: vals},
		{Name: "c.bf16", Shape: []int{7, 1}, DType: BF16, F32: vals},
		{Name: "d.f64", Shape: []int{7}, DType: F64, F32: vals},
		{Name: "e.ids", Shape: []int{2, 2}, DType: I64, I64: []int64{49406, -1, math.MaxInt64, 0}},
		{Name: "f.i32", Shape: []int{2}, DType: I32, I64: []int64{-7, 1 << 30}},
		{Name: "g.scalar", Shape: []int{}, F32: []float32{42}},
		{Name: "h.empty", Shape: []int{0, 3}, F32: nil},
	}
	meta := map[string]string{"format": "latexblend.delta/v1", "class_noun": "dog"}
	if err := WriteFile(path, tensors, meta); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0o644 {
		t.Errorf("written file mode %v (%v), want 0644", st.Mode().Perm(), err)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	h, err := ParseHeader(raw)
	if err != nil {
		t.Fatalf("ParseHeader of written file: %v", err)
	}
	if h.DataStart%8 != 0 {
		t.Errorf("data starts at %d, want a multiple of 8", h.DataStart)
	}
	f, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	wantNames := []string{"a.f32", "b.f16", "c.bf16", "d.f64", "e.ids", "f.i32", "g.scalar", "h.empty"}
	if got := f.Names(); !reflect.DeepEqual(got, wantNames) {
		t.Errorf("Names = %v, want %v", got, wantNames)
	}
	if got := f.Metadata(); !reflect.DeepEqual(got, meta) {
		t.Errorf("Metadata = %v, want %v", got, meta)
	}
	for _, tc := range []struct {
		name  string
		dtype DType
		shape []int
		tol   float64 // relative
	}{
		{"a.f32", F32, []int{1, 7}, 0},
		{"b.f16", F16, []int{7}, 1.0 / 2048},
		{"c.bf16", BF16, []int{7, 1}, 1.0 / 256},
		{"d.f64", F64, []int{7}, 0},
	} {
		info, ok := f.Info(tc.name)
		if !ok || info.DType != tc.dtype {
			t.Errorf("Info(%q) = %+v, %v; want dtype %s", tc.name, info, ok, tc.dtype)
		}
		got, shape, err := f.Float32(tc.name)
		if err != nil {
			t.Fatalf("Float32(%q): %v", tc.name, err)
		}
		if !reflect.DeepEqual(shape, tc.shape) {
			t.Errorf("%s: shape %v, want %v", tc.name, shape, tc.shape)
		}
		for i, v := range vals {
			if d := math.Abs(float64(got[i] - v)); d > tc.tol*math.Abs(float64(v)) {
				t.Errorf("%s[%d] = %v, want %v (rel tol %g)", tc.name, i, got[i], v, tc.tol)
			}
		}
	}
	ids, shape, err := f.Int64("e.ids")
	if err != nil || !reflect.DeepEqual(ids, []int64{49406, -1, math.MaxInt64, 0}) || !reflect.DeepEqual(shape, []int{2, 2}) {
		t.Errorf("Int64(e.ids) = %v %v %v", ids, shape, err)
	}
	i32, _, err := f.Int64("f.i32")
	if err != nil || !reflect.DeepEqual(i32, []int64{-7, 1 << 30}) {
		t.Errorf("Int64(f.i32) = %v %v", i32, err)
	}
	s, shape, err := f.Float32("g.scalar")
	if err != nil || len(s) != 1 || s[0] != 42 || len(shape) != 0 {
		t.Errorf("scalar = %v %v %v", s, shape, err)
	}
	e, shape, err := f.Float32("h.empty")
	if err != nil || len(e) != 0 || !reflect.DeepEqual(shape, []int{0, 3}) {
		t.Errorf("empty = %v %v %v", e, shape, err)
	}
	into := make([]float32, 7)
	if err := f.Float32Into("a.f32", into); err != nil || !reflect.DeepEqual(into, vals) {
		t.Errorf("Float32Into = %v %v", into, err)
	}
	if err := f.Float32Into("a.f32", make([]float32, 6)); err == nil {
		t.Error("Float32Into with a short destination succeeded")
	}
	if _, _, err := f.Int64("a.f32"); err == nil {
		t.Error("Int64 of an F32 tensor succeeded")
	}
	if _, _, err := f.Float32("e.ids"); err == nil {
		t.Error("Float32 of an I64 tensor succeeded")
	}
	if _, _, err := f.Float32("nope"); err == nil {
		t.Error("Float32 of a missing tensor succeeded")
	}
}

// TestLargeTensorChunks reads tensors larger than the conversion chunk for every dtype.
func TestLargeTensorChunks(t *testing.T) {
	n := chunkBytes/2 + 12345
	vals := make([]float32, n)
	for i := range vals {
		vals[i] = float32(i%2048) - 1024
	}
	path := filepath.Join(t.TempDir(), "big.safetensors")
	var tensors []Tensor
	for _, d := range []DType{F32, F16, BF16, F64} {
		tensors = append(tensors, Tensor{Name: string(d), Shape: []int{n}, DType: d, F32: vals})
	}
	if err := WriteFile(path, tensors, nil); err != nil {
		t.Fatal(err)
	}
	f, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, d := range []DType{F32, F16, BF16, F64} {
		got, _, err := f.Float32(string(d))
		if err != nil {
			t.Fatal(err)
		}
		for i := range vals { // integers up to 1024 are exact in all four dtypes except BF16 (8 bits)
			want := vals[i]
			if d == BF16 {
				want = bf16ToF32(f32ToBF16(want))
			}
			if got[i] != want {
				t.Fatalf("%s[%d] = %v, want %v", d, i, got[i], want)
			}
		}
	}
}

func TestWriteFileRejectsBadInput(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "x.safetensors")
	for _, tc := range []struct {
		name    string
		tensors []Tensor
	}{
		{"length mismatch", []Tensor{{Name: "a", Shape: []int{2, 2}, F32: []float32{1, 2, 3}}}},
		{"duplicate", []Tensor{{Name: "a", Shape: []int{1}, F32: []float32{1}}, {Name: "a", Shape: []int{1}, F32: []float32{1}}}},
		{"empty name", []Tensor{{Name: "", Shape: []int{1}, F32: []float32{1}}}},
		{"reserved name", []Tensor{{Name: "__metadata__", Shape: []int{1}, F32: []float32{1}}}},
		{"negative dim", []Tensor{{Name: "a", Shape: []int{-1}, F32: nil}}},
		{"unsupported dtype", []Tensor{{Name: "a", Shape: []int{1}, DType: U8, F32: []float32{1}}}},
		{"I32 overflow", []Tensor{{Name: "a", Shape: []int{1}, DType: I32, I64: []int64{1 << 40}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := WriteFile(path, tc.tensors, nil); err == nil {
				t.Fatal("WriteFile succeeded")
			}
			if _, err := os.Stat(path); !os.IsNotExist(err) {
				t.Fatalf("a file was left at %s", path)
			}
			if left, _ := os.ReadDir(dir); len(left) != 0 {
				t.Fatalf("temporary files left: %v", left)
			}
		})
	}
}

// TestWriteFileReplacesAtomically overwrites an existing file and checks no temporary
// file remains.
func TestWriteFileReplacesAtomically(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "x.safetensors")
	for i := 1; i <= 2; i++ {
		if err := WriteFile(path, []Tensor{{Name: "v", Shape: []int{1}, F32: []float32{float32(i)}}}, nil); err != nil {
			t.Fatal(err)
		}
	}
	f, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	v, _, err := f.Float32("v")
	if err != nil || v[0] != 2 {
		t.Fatalf("v = %v %v, want [2]", v, err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Fatalf("directory holds %d entries, want 1", len(entries))
	}
	if err := WriteFile(filepath.Join(dir, "missing", "y.safetensors"), nil, nil); err == nil {
		t.Fatal("writing into a missing directory succeeded")
	}
}
