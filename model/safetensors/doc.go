// Package safetensors reads and writes the safetensors tensor format
// (https://huggingface.co/docs/safetensors): an 8-byte little-endian header length N,
// N bytes of JSON mapping tensor names to {dtype, shape, data_offsets} (plus an optional
// "__metadata__" string map), then the raw little-endian tensor data.
//
// The reader validates the whole header before any tensor is read: length limit,
// well-formed UTF-8 JSON without duplicate keys, known dtypes, non-negative dimensions,
// overflow-safe element counts, shape × dtype size equal to the byte range, and byte
// ranges inside the file and not overlapping. Every violation is a *FormatError naming
// the file and the tensor.
//
// Tensors are read on demand with ReadAt, so a multi-gigabyte checkpoint is never held
// in memory twice: only the float32 slices the caller asks for are allocated. F16, BF16
// and F64 data are converted to float32 while reading.
//
// The writer emits tensors sorted by name, the header padded with spaces to a multiple
// of 8 bytes, and writes atomically (temporary file, fsync, rename).
package safetensors
