package safetensors

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"sort"
)

// File is an open safetensors file whose header has been validated. Tensor data stays on
// disk until asked for. Its methods are safe for concurrent use.
type File struct {
	path       string
	f          readerAtCloser
	header     *Header
	headerJSON []byte
	byName     map[string]int
}

// Open reads and validates the header of the safetensors file at path, keeping the file
// open for reading tensors.
func Open(path string) (*File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	sf, err := open(path, f, st.Size())
	if err != nil {
		f.Close()
		return nil, err
	}
	return sf, nil
}

// readerAtCloser is where tensor bytes are read from: an open file or a byte slice.
type readerAtCloser interface {
	io.ReaderAt
	io.Closer
}

type bytesReaderAt struct{ *bytes.Reader }

func (bytesReaderAt) Close() error { return nil }

// OpenBytes validates b as a safetensors file held in memory (an entry fetched from the
// object store, say); name is used in error messages. Tensors are read from b without
// copying it first.
func OpenBytes(name string, b []byte) (*File, error) {
	return open(name, bytesReaderAt{bytes.NewReader(b)}, int64(len(b)))
}

func open(path string, f readerAtCloser, size int64) (*File, error) {
	if size < 8 {
		return nil, &FormatError{File: path, Reason: fmt.Sprintf("file is %d bytes, shorter than the 8-byte header length", size)}
	}
	var prefix [8]byte
	if _, err := f.ReadAt(prefix[:], 0); err != nil {
		return nil, fmt.Errorf("safetensors: %s: reading header length: %w", path, err)
	}
	n := binary.LittleEndian.Uint64(prefix[:])
	if n > MaxHeaderSize {
		return nil, &FormatError{File: path, Reason: fmt.Sprintf("header length %d exceeds the limit of %d bytes", n, MaxHeaderSize)}
	}
	if n > uint64(size-8) {
		return nil, &FormatError{File: path, Reason: fmt.Sprintf("header length %d exceeds the %d bytes after the length prefix", n, size-8)}
	}
	js := make([]byte, n)
	if _, err := f.ReadAt(js, 8); err != nil {
		return nil, fmt.Errorf("safetensors: %s: reading header: %w", path, err)
	}
	h, err := parseHeaderJSON(js, size-8-int64(n))
	if err != nil {
		return nil, withFile(err, path)
	}
	sf := &File{path: path, f: f, header: h, headerJSON: js, byName: make(map[string]int, len(h.Tensors))}
	for i, t := range h.Tensors {
		sf.byName[t.Name] = i
	}
	return sf, nil
}

// Path returns the path the file was opened from.
func (f *File) Path() string { return f.path }

// Names returns the tensor names, sorted.
func (f *File) Names() []string {
	names := make([]string, len(f.header.Tensors))
	for i, t := range f.header.Tensors {
		names[i] = t.Name
	}
	sort.Strings(names) // already sorted; kept so the contract does not rest on parse order
	return names
}

// Tensors returns the descriptions of all tensors, sorted by name.
func (f *File) Tensors() []TensorInfo {
	out := make([]TensorInfo, len(f.header.Tensors))
	for i, t := range f.header.Tensors {
		t.Shape = append([]int(nil), t.Shape...)
		out[i] = t
	}
	return out
}

// Info returns the description of one tensor.
func (f *File) Info(name string) (TensorInfo, bool) {
	i, ok := f.byName[name]
	if !ok {
		return TensorInfo{}, false
	}
	t := f.header.Tensors[i]
	t.Shape = append([]int(nil), t.Shape...)
	return t, true
}

// Metadata returns a copy of the "__metadata__" map (empty when the file has none).
func (f *File) Metadata() map[string]string {
	m := make(map[string]string, len(f.header.Metadata))
	for k, v := range f.header.Metadata {
		m[k] = v
	}
	return m
}

// HeaderJSON returns a copy of the raw JSON header, padding included. Hashing it
// identifies a weight file's names, dtypes, shapes and layout without reading the data.
func (f *File) HeaderJSON() []byte { return append([]byte(nil), f.headerJSON...) }

// Close closes the underlying file.
func (f *File) Close() error { return f.f.Close() }

// lookup returns the tensor's description or an error naming file and tensor.
func (f *File) lookup(name string) (TensorInfo, error) {
	i, ok := f.byName[name]
	if !ok {
		return TensorInfo{}, fmt.Errorf("safetensors: %s: tensor %q: %w", f.path, name, ErrNotFound)
	}
	return f.header.Tensors[i], nil
}

// Float32 reads a floating-point tensor (F32, F16, BF16 or F64) as float32, returning
// the data in row-major order and its shape.
func (f *File) Float32(name string) ([]float32, []int, error) {
	t, err := f.lookup(name)
	if err != nil {
		return nil, nil, err
	}
	if !t.DType.IsFloat() {
		return nil, nil, &FormatError{File: f.path, Tensor: name, Reason: fmt.Sprintf("dtype %s cannot be read as float32", t.DType)}
	}
	dst := make([]float32, t.NumElements())
	if err := f.readFloat32(t, dst); err != nil {
		return nil, nil, err
	}
	return dst, append([]int(nil), t.Shape...), nil
}

// Float32Into reads a floating-point tensor into dst, which must have exactly its
// element count; it lets model loaders fill parameter storage without a second buffer.
func (f *File) Float32Into(name string, dst []float32) error {
	t, err := f.lookup(name)
	if err != nil {
		return err
	}
	if !t.DType.IsFloat() {
		return &FormatError{File: f.path, Tensor: name, Reason: fmt.Sprintf("dtype %s cannot be read as float32", t.DType)}
	}
	if int64(len(dst)) != t.NumElements() {
		return fmt.Errorf("safetensors: %s: tensor %q: has %d elements (shape %v), destination holds %d",
			f.path, name, t.NumElements(), t.Shape, len(dst))
	}
	return f.readFloat32(t, dst)
}

// Int64 reads an integer or BOOL tensor as int64. U64 values above MaxInt64 are an error.
func (f *File) Int64(name string) ([]int64, []int, error) {
	t, err := f.lookup(name)
	if err != nil {
		return nil, nil, err
	}
	if !t.DType.IsInt() {
		return nil, nil, &FormatError{File: f.path, Tensor: name, Reason: fmt.Sprintf("dtype %s cannot be read as int64", t.DType)}
	}
	dst := make([]int64, t.NumElements())
	if err := f.readInt64(t, dst); err != nil {
		return nil, nil, err
	}
	return dst, append([]int(nil), t.Shape...), nil
}

// section returns a reader over the tensor's bytes.
func (f *File) section(t TensorInfo) io.Reader {
	return io.NewSectionReader(f.f, f.header.DataStart+t.Begin, t.End-t.Begin)
}

func (f *File) readErr(t TensorInfo, err error) error {
	return fmt.Errorf("safetensors: %s: tensor %q: reading data: %w", f.path, t.Name, err)
}
