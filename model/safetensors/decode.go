package safetensors

import (
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"unsafe"
)

// chunkBytes is the staging buffer size for converting reads; the destination slice is
// the only allocation proportional to the tensor.
const chunkBytes = 1 << 20

// littleEndianHost is true on the hosts where F32 data can be read straight into a
// []float32 without byte swapping.
var littleEndianHost = func() bool {
	x := uint16(1)
	return *(*byte)(unsafe.Pointer(&x)) == 1
}()

func (f *File) readFloat32(t TensorInfo, dst []float32) error {
	if len(dst) == 0 {
		return nil
	}
	if t.DType == F32 && littleEndianHost {
		raw := unsafe.Slice((*byte)(unsafe.Pointer(&dst[0])), 4*len(dst))
		if _, err := f.f.ReadAt(raw, f.header.DataStart+t.Begin); err != nil {
			return f.readErr(t, err)
		}
		return nil
	}
	size := int(t.DType.Size())
	return f.readChunks(t, func(b []byte, at int) {
		out := dst[at : at+len(b)/size]
		switch t.DType {
		case F32:
			for i := range out {
				out[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
			}
		case F16:
			table := f16Table()
			for i := range out {
				out[i] = table[binary.LittleEndian.Uint16(b[2*i:])]
			}
		case BF16:
			for i := range out {
				out[i] = bf16ToF32(binary.LittleEndian.Uint16(b[2*i:]))
			}
		case F64:
			for i := range out {
				out[i] = float32(math.Float64frombits(binary.LittleEndian.Uint64(b[8*i:])))
			}
		}
	})
}

func (f *File) readInt64(t TensorInfo, dst []int64) error {
	size := int(t.DType.Size())
	var overflow error
	err := f.readChunks(t, func(b []byte, at int) {
		out := dst[at : at+len(b)/size]
		for i := range out {
			switch t.DType {
			case I64:
				out[i] = int64(binary.LittleEndian.Uint64(b[8*i:]))
			case U64:
				v := binary.LittleEndian.Uint64(b[8*i:])
				if v > math.MaxInt64 && overflow == nil {
					overflow = fmt.Errorf("safetensors: %s: tensor %q: U64 element %d = %d overflows int64", f.path, t.Name, at+i, v)
				}
				out[i] = int64(v)
			case I32:
				out[i] = int64(int32(binary.LittleEndian.Uint32(b[4*i:])))
			case U32:
				out[i] = int64(binary.LittleEndian.Uint32(b[4*i:]))
			case I16:
				out[i] = int64(int16(binary.LittleEndian.Uint16(b[2*i:])))
			case U16:
				out[i] = int64(binary.LittleEndian.Uint16(b[2*i:]))
			case I8:
				out[i] = int64(int8(b[i]))
			case U8, Bool:
				out[i] = int64(b[i])
			}
		}
	})
	if err != nil {
		return err
	}
	return overflow
}

// readChunks streams the tensor's bytes in whole-element chunks, calling convert with
// each chunk and the index of its first element.
func (f *File) readChunks(t TensorInfo, convert func(b []byte, at int)) error {
	size := int(t.DType.Size())
	total := t.End - t.Begin
	buf := make([]byte, min(int64(chunkBytes/size*size), total))
	r := f.section(t)
	at := 0
	for done := int64(0); done < total; {
		n := min(int64(len(buf)), total-done)
		if _, err := io.ReadFull(r, buf[:n]); err != nil {
			return f.readErr(t, err)
		}
		convert(buf[:n], at)
		done += n
		at += int(n) / size
	}
	return nil
}
