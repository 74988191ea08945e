package safetensors

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"math"
	"sort"
	"unicode/utf8"
)

// MaxHeaderSize bounds the JSON header (the reference implementation uses the same
// 100 MB limit); a larger length prefix is treated as corruption rather than allocated.
const MaxHeaderSize = 100 << 20

// metadataKey is the reserved header key holding the string-to-string metadata map.
const metadataKey = "__metadata__"

// TensorInfo describes one tensor of a file. Begin and End are byte offsets relative
// to the start of the data section (the header's data_offsets), End exclusive.
type TensorInfo struct {
	Name  string
	DType DType
	Shape []int
	Begin int64
	End   int64
}

// NumElements is the product of the shape (1 for a scalar). It cannot overflow for a
// TensorInfo produced by this package.
func (t TensorInfo) NumElements() int64 {
	n := int64(1)
	for _, d := range t.Shape {
		n *= int64(d)
	}
	return n
}

// Header is a parsed and validated safetensors header.
type Header struct {
	// Tensors sorted by name.
	Tensors []TensorInfo
	// Metadata is the "__metadata__" map; empty (not nil) when absent.
	Metadata map[string]string
	// DataStart is the file offset of the data section: 8 + header length.
	DataStart int64
}

// ParseHeader parses and validates a whole safetensors file held in memory: the length
// prefix, the JSON header, and the byte ranges against the data that follows.
func ParseHeader(file []byte) (*Header, error) {
	if len(file) < 8 {
		return nil, formatErr("", "file is %d bytes, shorter than the 8-byte header length", len(file))
	}
	n := binary.LittleEndian.Uint64(file[:8])
	if n > MaxHeaderSize {
		return nil, formatErr("", "header length %d exceeds the limit of %d bytes", n, MaxHeaderSize)
	}
	if n > uint64(len(file)-8) {
		return nil, formatErr("", "header length %d exceeds the %d bytes after the length prefix", n, len(file)-8)
	}
	return parseHeaderJSON(file[8:8+n], int64(len(file))-8-int64(n))
}

// parseHeaderJSON validates the JSON header js for a data section of dataSize bytes.
func parseHeaderJSON(js []byte, dataSize int64) (*Header, error) {
	if !utf8.Valid(js) {
		return nil, formatErr("", "header is not valid UTF-8")
	}
	if len(js) == 0 || js[0] != '{' {
		return nil, formatErr("", "header does not start with '{'")
	}
	entries, err := splitObject(js)
	if err != nil {
		return nil, err
	}
	h := &Header{Metadata: map[string]string{}, DataStart: 8 + int64(len(js))}
	for _, e := range entries {
		if e.key == metadataKey {
			if err := parseMetadata(e.value, h.Metadata); err != nil {
				return nil, err
			}
			continue
		}
		info, err := parseTensorEntry(e.key, e.value, dataSize)
		if err != nil {
			return nil, err
		}
		h.Tensors = append(h.Tensors, info)
	}
	sort.Slice(h.Tensors, func(i, j int) bool { return h.Tensors[i].Name < h.Tensors[j].Name })
	if err := checkOverlap(h.Tensors); err != nil {
		return nil, err
	}
	return h, nil
}

type rawEntry struct {
	key   string
	value json.RawMessage
}

// splitObject splits a top-level JSON object into its members, rejecting duplicate keys
// (encoding/json would silently keep the last one) and anything after the object other
// than whitespace (the format pads headers with spaces).
func splitObject(js []byte) ([]rawEntry, error) {
	dec := json.NewDecoder(bytes.NewReader(js))
	tok, err := dec.Token()
	if err != nil {
		return nil, formatErr("", "header is not valid JSON: %v", err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, formatErr("", "header is not a JSON object")
	}
	seen := map[string]bool{}
	var out []rawEntry
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, formatErr("", "header is not valid JSON: %v", err)
		}
		key, ok := tok.(string)
		if !ok {
			return nil, formatErr("", "header is not valid JSON: object key %v is not a string", tok)
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, formatErr(key, "header is not valid JSON: %v", err)
		}
		if seen[key] {
			return nil, formatErr(key, "duplicate key in header")
		}
		seen[key] = true
		out = append(out, rawEntry{key: key, value: v})
	}
	if _, err := dec.Token(); err != nil {
		return nil, formatErr("", "header is not valid JSON: %v", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, formatErr("", "header has data after the JSON object")
	}
	return out, nil
}

// parseMetadata decodes "__metadata__"; null is taken as absent, as the reference
// (an optional map) does.
func parseMetadata(v json.RawMessage, into map[string]string) error {
	if string(v) == "null" {
		return nil
	}
	var m map[string]any
	if err := json.Unmarshal(v, &m); err != nil || m == nil {
		return formatErr("", "%s is not a JSON object of strings", metadataKey)
	}
	for k, val := range m {
		s, ok := val.(string)
		if !ok {
			return formatErr("", "%s[%q] is %T, want a string", metadataKey, k, val)
		}
		into[k] = s
	}
	return nil
}

// parseTensorEntry decodes one {dtype, shape, data_offsets} member and checks it against
// a data section of dataSize bytes. Unknown members are tolerated, as in the reference.
func parseTensorEntry(name string, v json.RawMessage, dataSize int64) (TensorInfo, error) {
	if name == "" {
		return TensorInfo{}, formatErr("", "empty tensor name in header")
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(v, &fields); err != nil || fields == nil {
		return TensorInfo{}, formatErr(name, "header entry is not a JSON object")
	}
	var dtype string
	var shape, offsets []int64
	for _, f := range []struct {
		key string
		dst any
	}{{"dtype", &dtype}, {"shape", &shape}, {"data_offsets", &offsets}} {
		raw, ok := fields[f.key]
		if !ok || string(raw) == "null" {
			return TensorInfo{}, formatErr(name, "header entry lacks %q", f.key)
		}
		if err := json.Unmarshal(raw, f.dst); err != nil {
			return TensorInfo{}, formatErr(name, "bad %q %s: %v", f.key, raw, err)
		}
	}
	info := TensorInfo{Name: name, DType: DType(dtype)}
	if !info.DType.Known() {
		return TensorInfo{}, formatErr(name, "unknown dtype %q", dtype)
	}
	count := int64(1)
	info.Shape = make([]int, len(shape))
	for i, d := range shape {
		if d < 0 {
			return TensorInfo{}, formatErr(name, "shape %v has negative dimension %d", shape, d)
		}
		if d != 0 && count > math.MaxInt64/d {
			return TensorInfo{}, formatErr(name, "shape %v overflows the element count", shape)
		}
		count *= d
		info.Shape[i] = int(d)
	}
	size := info.DType.Size()
	if count > math.MaxInt64/size {
		return TensorInfo{}, formatErr(name, "shape %v of %s overflows the byte size", shape, dtype)
	}
	if len(offsets) != 2 {
		return TensorInfo{}, formatErr(name, "data_offsets %v must be [begin, end]", offsets)
	}
	info.Begin, info.End = offsets[0], offsets[1]
	if info.Begin < 0 || info.End < info.Begin {
		return TensorInfo{}, formatErr(name, "data_offsets %v are not 0 <= begin <= end", offsets)
	}
	if info.End > dataSize {
		return TensorInfo{}, formatErr(name, "data_offsets %v end beyond the %d-byte data section", offsets, dataSize)
	}
	if want := count * size; info.End-info.Begin != want {
		return TensorInfo{}, formatErr(name, "data_offsets %v span %d bytes but shape %v of %s needs %d",
			offsets, info.End-info.Begin, shape, dtype, want)
	}
	return info, nil
}

// checkOverlap rejects tensors whose byte ranges intersect (empty tensors occupy nothing).
func checkOverlap(tensors []TensorInfo) error {
	byBegin := make([]TensorInfo, 0, len(tensors))
	for _, t := range tensors {
		if t.End > t.Begin {
			byBegin = append(byBegin, t)
		}
	}
	sort.Slice(byBegin, func(i, j int) bool { return byBegin[i].Begin < byBegin[j].Begin })
	for i := 1; i < len(byBegin); i++ {
		prev, cur := byBegin[i-1], byBegin[i]
		if cur.Begin < prev.End {
			return formatErr(cur.Name, "data_offsets [%d, %d] overlap tensor %q at [%d, %d]",
				cur.Begin, cur.End, prev.Name, prev.Begin, prev.End)
		}
	}
	return nil
}
