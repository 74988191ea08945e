package safetensors

import (
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// build assembles a file from a JSON header and dataLen zero bytes of data.
func build(header string, dataLen int) []byte {
	b := make([]byte, 8, 8+len(header)+dataLen)
	binary.LittleEndian.PutUint64(b, uint64(len(header)))
	b = append(b, header...)
	return append(b, make([]byte, dataLen)...)
}

func TestParseHeaderAccepts(t *testing.T) {
	for _, tc := range []struct {
		name    string
		header  string
		data    int
		tensors int
	}{
		{"empty object", `{}`, 0, 0},
		{"metadata only", `{"__metadata__":{"format":"pt"}}`, 0, 0},
		{"null metadata", `{"__metadata__":null}`, 0, 0},
		{"padded", `{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}      `, 8, 1},
		{"scalar", `{"a":{"dtype":"F64","shape":[],"data_offsets":[0,8]}}`, 8, 1},
		{"zero-size beside others", `{"a":{"dtype":"F32","shape":[0],"data_offsets":[4,4]},"b":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, 8, 2},
		{"gap and trailing data", `{"a":{"dtype":"U8","shape":[2],"data_offsets":[3,5]}}`, 9, 1},
		{"unknown entry member", `{"a":{"dtype":"BF16","shape":[1],"data_offsets":[0,2],"extra":1}}`, 2, 1},
		{"all dtypes", `{"a":{"dtype":"BOOL","shape":[1],"data_offsets":[0,1]},"b":{"dtype":"F8_E4M3","shape":[1],"data_offsets":[1,2]},"c":{"dtype":"U64","shape":[1],"data_offsets":[2,10]}}`, 10, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, err := ParseHeader(build(tc.header, tc.data))
			if err != nil {
				t.Fatal(err)
			}
			if len(h.Tensors) != tc.tensors {
				t.Fatalf("%d tensors, want %d", len(h.Tensors), tc.tensors)
			}
		})
	}
}

func TestParseHeaderRejects(t *testing.T) {
	for _, tc := range []struct {
		name   string
		file   []byte
		tensor string // must be named in the error, when set
		reason string // substring of the error
	}{
		{"short file", []byte{1, 2, 3}, "", "shorter than"},
		{"length past end", append([]byte{100, 0, 0, 0, 0, 0, 0, 0}, "{}"...), "", "exceeds the 2 bytes"},
		{"length over limit", append([]byte{0, 0, 0, 0, 0, 0, 0, 1}, "{}"...), "", "exceeds the limit"},
		{"not json", build(`{"a":`, 0), "a", "not valid JSON"},
		{"not an object", build(`[1,2]`, 0), "", "start with '{'"},
		{"leading space", build(` {}`, 0), "", "start with '{'"},
		{"empty header", build(``, 0), "", "start with '{'"},
		{"trailing garbage", build(`{} x`, 0), "", "data after"},
		{"unterminated", build(`{"a":{}`, 0), "", "not valid JSON"},
		{"second object", build(`{}{}`, 0), "", "data after"},
		{"invalid utf8", build("{\"\xff\":1}", 0), "", "UTF-8"},
		{"duplicate key", build(`{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"a":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}}`, 2), "a", "duplicate"},
		{"unknown dtype", build(`{"w":{"dtype":"F128","shape":[1],"data_offsets":[0,16]}}`, 16), "w", "unknown dtype"},
		{"missing dtype", build(`{"w":{"shape":[1],"data_offsets":[0,4]}}`, 4), "w", `lacks "dtype"`},
		{"missing shape", build(`{"w":{"dtype":"F32","data_offsets":[0,4]}}`, 4), "w", `lacks "shape"`},
		{"null offsets", build(`{"w":{"dtype":"F32","shape":[1],"data_offsets":null}}`, 4), "w", `lacks "data_offsets"`},
		{"entry not object", build(`{"w":[1]}`, 0), "w", "not a JSON object"},
		{"negative dim", build(`{"w":{"dtype":"F32","shape":[-1],"data_offsets":[0,0]}}`, 0), "w", "negative"},
		{"fractional dim", build(`{"w":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}}`, 4), "w", "shape"},
		{"huge dims overflow", build(`{"w":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,4]}}`, 4), "w", "overflow"},
		{"byte size overflow", build(`{"w":{"dtype":"F64","shape":[2305843009213693952],"data_offsets":[0,8]}}`, 8), "w", "overflow"},
		{"size mismatch", build(`{"w":{"dtype":"F32","shape":[2,3],"data_offsets":[0,20]}}`, 24), "w", "needs 24"},
		{"offsets past end", build(`{"w":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}`, 8), "w", "beyond"},
		{"offsets reversed", build(`{"w":{"dtype":"U8","shape":[0],"data_offsets":[4,0]}}`, 8), "w", "begin <= end"},
		{"negative offset", build(`{"w":{"dtype":"U8","shape":[1],"data_offsets":[-1,0]}}`, 8), "w", "begin <= end"},
		{"three offsets", build(`{"w":{"dtype":"U8","shape":[1],"data_offsets":[0,1,2]}}`, 8), "w", "[begin, end]"},
		{"overlap", build(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}`, 12), "b", `overlap tensor "a"`},
		{"metadata not strings", build(`{"__metadata__":{"step":3}}`, 0), "", "want a string"},
		{"metadata not object", build(`{"__metadata__":"x"}`, 0), "", "__metadata__"},
		{"empty name", build(`{"":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}`, 1), "", "empty tensor name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseHeader(tc.file)
			if err == nil {
				t.Fatal("ParseHeader succeeded")
			}
			var fe *FormatError
			if !errors.As(err, &fe) {
				t.Fatalf("error %v is not a *FormatError", err)
			}
			if fe.Tensor != tc.tensor {
				t.Errorf("error names tensor %q, want %q (%v)", fe.Tensor, tc.tensor, err)
			}
			if !strings.Contains(err.Error(), tc.reason) {
				t.Errorf("error %q does not mention %q", err, tc.reason)
			}
		})
	}
}

// TestOpenNamesFileAndTensor checks errors from Open carry the path and the tensor.
func TestOpenNamesFileAndTensor(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bad.safetensors")
	if err := os.WriteFile(path, build(`{"layer.weight":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}`, 8), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Open(path)
	if err == nil {
		t.Fatal("Open succeeded")
	}
	for _, want := range []string{path, `"layer.weight"`, "needs 12"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	if _, err := Open(filepath.Join(t.TempDir(), "absent.safetensors")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Open of a missing file: %v, want os.ErrNotExist", err)
	}
}

// TestTruncatedAfterOpen reports a read error naming the tensor when the data vanished.
func TestTruncatedAfterOpen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.safetensors")
	if err := WriteFile(path, []Tensor{{Name: "w", Shape: []int{1000}, F32: make([]float32, 1000)}}, nil); err != nil {
		t.Fatal(err)
	}
	f, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := os.Truncate(path, 100); err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.Float32("w"); err == nil || !strings.Contains(err.Error(), `"w"`) {
		t.Fatalf("reading a truncated tensor: %v", err)
	}
}

func FuzzParseHeader(f *testing.F) {
	seeds := [][]byte{
		build(`{}`, 0),
		build(`{"__metadata__":{"format":"pt"}}`, 0),
		build(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}  `, 8),
		build(`{"a":{"dtype":"F16","shape":[2,1],"data_offsets":[0,4]},"b":{"dtype":"BF16","shape":[],"data_offsets":[4,6]}}`, 6),
		build(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}`, 12),
		build(`{"w":{"dtype":"I64","shape":[-1],"data_offsets":[0,8]}}`, 8),
		{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff},
	}
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, file []byte) {
		h, err := ParseHeader(file)
		if err != nil {
			var fe *FormatError
			if !errors.As(err, &fe) {
				t.Fatalf("error %v is not a *FormatError", err)
			}
			return
		}
		// Whatever parses must describe in-bounds, correctly sized, disjoint ranges.
		dataSize := int64(len(file)) - h.DataStart
		for i, ti := range h.Tensors {
			if ti.Begin < 0 || ti.End < ti.Begin || ti.End > dataSize {
				t.Fatalf("tensor %q range [%d,%d] outside data of %d bytes", ti.Name, ti.Begin, ti.End, dataSize)
			}
			if ti.NumElements()*ti.DType.Size() != ti.End-ti.Begin {
				t.Fatalf("tensor %q size mismatch", ti.Name)
			}
			if i > 0 && h.Tensors[i-1].Name >= ti.Name {
				t.Fatalf("tensors not sorted: %q before %q", h.Tensors[i-1].Name, ti.Name)
			}
		}
	})
}
