package safetensors

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"unsafe"
)

// Tensor is one tensor to write. Data comes from F32 for the float dtypes (F32 when
// DType is empty, narrowed to F16 or BF16 when DType says so, widened for F64) and from
// I64 for the integer dtypes I64 and I32.
type Tensor struct {
	Name  string
	Shape []int
	DType DType
	F32   []float32
	I64   []int64
}

// WriteFile writes tensors and metadata to path atomically: the data goes to a
// temporary file in the same directory, which is synced and then renamed over path, so
// readers see either the old file or the complete new one. Tensors are stored sorted by
// name; the header is padded with spaces to a multiple of 8 bytes so the data is aligned.
func WriteFile(path string, tensors []Tensor, metadata map[string]string) (err error) {
	sorted, err := checkTensors(path, tensors)
	if err != nil {
		return err
	}
	header, err := encodeHeader(sorted, metadata)
	if err != nil {
		return fmt.Errorf("safetensors: %s: %w", path, err)
	}
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("safetensors: %w", err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err = encode(tmp, header, sorted); err != nil {
		return fmt.Errorf("safetensors: writing %s: %w", path, err)
	}
	// CreateTemp makes the file 0600; give it the mode an ordinary create would have
	// so other processes serving the same volume can read it.
	if err = tmp.Chmod(0o644); err != nil {
		return fmt.Errorf("safetensors: %w", err)
	}
	if err = tmp.Sync(); err != nil {
		return fmt.Errorf("safetensors: syncing %s: %w", path, err)
	}
	if err = tmp.Close(); err != nil {
		return fmt.Errorf("safetensors: closing %s: %w", path, err)
	}
	if err = os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("safetensors: %w", err)
	}
	syncDir(dir)
	return nil
}

// Marshal returns the bytes of a safetensors file holding tensors and metadata, laid out
// exactly as WriteFile writes them; for files that travel over the network rather than
// to disk.
func Marshal(tensors []Tensor, metadata map[string]string) ([]byte, error) {
	sorted, err := checkTensors("<memory>", tensors)
	if err != nil {
		return nil, err
	}
	header, err := encodeHeader(sorted, metadata)
	if err != nil {
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	var buf bytes.Buffer
	if err := encode(&buf, header, sorted); err != nil {
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	return buf.Bytes(), nil
}

// encode writes the length prefix, the header and every tensor's data to dst.
func encode(dst io.Writer, header []byte, sorted []Tensor) error {
	w := bufio.NewWriterSize(dst, chunkBytes)
	var prefix [8]byte
	binary.LittleEndian.PutUint64(prefix[:], uint64(len(header)))
	w.Write(prefix[:])
	w.Write(header)
	for _, t := range sorted {
		encodeData(w, t)
	}
	return w.Flush()
}

// syncDir makes the rename durable; failure only weakens durability, so it is ignored
// (some filesystems do not support syncing directories).
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}

// checkTensors validates the writer's input and returns it sorted by name.
func checkTensors(path string, tensors []Tensor) ([]Tensor, error) {
	bad := func(name, format string, args ...any) error {
		return &FormatError{File: path, Tensor: name, Reason: fmt.Sprintf(format, args...)}
	}
	seen := make(map[string]bool, len(tensors))
	out := make([]Tensor, len(tensors))
	for i, t := range tensors {
		if t.Name == "" || t.Name == metadataKey {
			return nil, bad(t.Name, "invalid tensor name")
		}
		if seen[t.Name] {
			return nil, bad(t.Name, "duplicate tensor name")
		}
		seen[t.Name] = true
		if t.DType == invalid {
			t.DType = F32
		}
		n := int64(1)
		for _, d := range t.Shape {
			if d < 0 || (d != 0 && n > math.MaxInt64/int64(d)) {
				return nil, bad(t.Name, "invalid shape %v", t.Shape)
			}
			n *= int64(d)
		}
		switch t.DType {
		case F32, F16, BF16, F64:
			if int64(len(t.F32)) != n {
				return nil, bad(t.Name, "shape %v needs %d values, F32 holds %d", t.Shape, n, len(t.F32))
			}
		case I64, I32:
			if int64(len(t.I64)) != n {
				return nil, bad(t.Name, "shape %v needs %d values, I64 holds %d", t.Shape, n, len(t.I64))
			}
			if t.DType == I32 {
				for j, v := range t.I64 {
					if v < math.MinInt32 || v > math.MaxInt32 {
						return nil, bad(t.Name, "element %d = %d does not fit I32", j, v)
					}
				}
			}
		default:
			return nil, bad(t.Name, "writing dtype %q is not supported (F32, F16, BF16, F64, I64, I32)", t.DType)
		}
		out[i] = t
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

type headerEntry struct {
	DType       DType   `json:"dtype"`
	Shape       []int   `json:"shape"`
	DataOffsets []int64 `json:"data_offsets"`
}

// encodeHeader builds the JSON header (keys sorted by encoding/json) padded with spaces.
func encodeHeader(tensors []Tensor, metadata map[string]string) ([]byte, error) {
	entries := make(map[string]any, len(tensors)+1)
	if len(metadata) > 0 {
		entries[metadataKey] = metadata
	}
	offset := int64(0)
	for _, t := range tensors {
		n := int64(len(t.F32))
		if t.DType == I64 || t.DType == I32 {
			n = int64(len(t.I64))
		}
		end := offset + n*t.DType.Size()
		shape := t.Shape
		if shape == nil {
			shape = []int{}
		}
		entries[t.Name] = headerEntry{DType: t.DType, Shape: shape, DataOffsets: []int64{offset, end}}
		offset = end
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(entries); err != nil {
		return nil, fmt.Errorf("encoding header: %w", err)
	}
	js := bytes.TrimRight(buf.Bytes(), "\n")
	if len(js) > MaxHeaderSize {
		return nil, errors.New("header exceeds the size limit")
	}
	for len(js)%8 != 0 {
		js = append(js, ' ')
	}
	return js, nil
}

// encodeData appends the little-endian bytes of one tensor, a chunk at a time; write
// errors surface at Flush.
func encodeData(w *bufio.Writer, t Tensor) {
	if t.DType == F32 && littleEndianHost && len(t.F32) > 0 {
		w.Write(unsafe.Slice((*byte)(unsafe.Pointer(&t.F32[0])), 4*len(t.F32)))
		return
	}
	size := int(t.DType.Size())
	n := len(t.F32)
	if t.DType == I64 || t.DType == I32 {
		n = len(t.I64)
	}
	buf := make([]byte, 0, min(chunkBytes, n*size))
	for start := 0; start < n; {
		end := min(n, start+chunkBytes/size)
		b := buf[:(end-start)*size]
		for i := range end - start {
			switch t.DType {
			case F32:
				binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(t.F32[start+i]))
			case F16:
				binary.LittleEndian.PutUint16(b[2*i:], f32ToF16(t.F32[start+i]))
			case BF16:
				binary.LittleEndian.PutUint16(b[2*i:], f32ToBF16(t.F32[start+i]))
			case F64:
				binary.LittleEndian.PutUint64(b[8*i:], math.Float64bits(float64(t.F32[start+i])))
			case I64:
				binary.LittleEndian.PutUint64(b[8*i:], uint64(t.I64[start+i]))
			case I32:
				binary.LittleEndian.PutUint32(b[4*i:], uint32(t.I64[start+i]))
			}
		}
		w.Write(b)
		start = end
	}
}
