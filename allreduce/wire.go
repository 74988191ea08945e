package allreduce

import (
	"encoding/binary"
	"math"
	"unsafe"
)

// littleEndian is true on hosts whose float32 memory layout is the wire layout, so pieces
// can be sent from and read into float32 slices without conversion.
var littleEndian = func() bool {
	x := uint16(1)
	return *(*byte)(unsafe.Pointer(&x)) == 1
}()

// float32Bytes views a float32 slice as its little-endian bytes (little-endian hosts only).
func float32Bytes(v []float32) []byte {
	if len(v) == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(&v[0])), 4*len(v))
}

// bytesFloat32 views b as float32 values when memory layout and alignment allow it.
func bytesFloat32(b []byte) ([]float32, bool) {
	if len(b) == 0 {
		return nil, true
	}
	if !littleEndian || uintptr(unsafe.Pointer(&b[0]))%4 != 0 {
		return nil, false
	}
	return unsafe.Slice((*float32)(unsafe.Pointer(&b[0])), len(b)/4), true
}

// bytesUint16 views b as little-endian uint16 values when layout and alignment allow it.
func bytesUint16(b []byte) ([]uint16, bool) {
	if len(b) == 0 {
		return nil, true
	}
	if !littleEndian || uintptr(unsafe.Pointer(&b[0]))%2 != 0 {
		return nil, false
	}
	return unsafe.Slice((*uint16)(unsafe.Pointer(&b[0])), len(b)/2), true
}

// toBF16 rounds f to bfloat16 with round-to-nearest-even. NaNs stay (quiet) NaNs; values
// beyond the largest bfloat16 round to ±Inf, as IEEE rounding requires.
func toBF16(f float32) uint16 {
	b := math.Float32bits(f)
	if b&0x7fffffff > 0x7f800000 {
		return uint16(b>>16) | 0x40
	}
	b += 0x7fff + (b>>16)&1
	return uint16(b >> 16)
}

func fromBF16(h uint16) float32 { return math.Float32frombits(uint32(h) << 16) }

// roundBF16 rounds v in place to the values bfloat16 can represent, so the rank that
// finishes a chunk keeps exactly what its peers will decode.
func roundBF16(v []float32) {
	for i, x := range v {
		v[i] = fromBF16(toBF16(x))
	}
}

// encode writes v in wire format into dst (len(dst) >= len(v)*w.elemBytes()).
func encode(w Wire, dst []byte, v []float32) {
	if w == WireBF16 {
		if d, ok := bytesUint16(dst); ok {
			d = d[:len(v)]
			for i, x := range v {
				d[i] = toBF16(x)
			}
			return
		}
		for i, x := range v {
			binary.LittleEndian.PutUint16(dst[2*i:], toBF16(x))
		}
		return
	}
	for i, x := range v {
		binary.LittleEndian.PutUint32(dst[4*i:], math.Float32bits(x))
	}
}

// decodeInto adds (accumulate) or copies the wire elements src into dst. The loops run
// over native slice views, because on a fast network this conversion is what limits the
// bf16 wire.
func decodeInto(w Wire, dst []float32, src []byte, accumulate bool) {
	if w == WireBF16 {
		h, ok := bytesUint16(src)
		if !ok {
			h = make([]uint16, len(dst))
			for i := range h {
				h[i] = binary.LittleEndian.Uint16(src[2*i:])
			}
		}
		h = h[:len(dst)]
		if accumulate {
			for i, x := range h {
				dst[i] += fromBF16(x)
			}
		} else {
			for i, x := range h {
				dst[i] = fromBF16(x)
			}
		}
		return
	}
	f, ok := bytesFloat32(src)
	if !ok {
		f = make([]float32, len(dst))
		for i := range f {
			f[i] = math.Float32frombits(binary.LittleEndian.Uint32(src[4*i:]))
		}
	}
	f = f[:len(dst)]
	if !accumulate {
		copy(dst, f)
		return
	}
	for i, x := range f {
		dst[i] += x
	}
}

// BF16ErrorBound is the factor γ of the bfloat16 wire's error bound for a ring of the
// given size: for every element, |result − exact sum| ≤ γ·Σ_r |x_r| (for Mean, divide
// the right-hand side by the ring size). Each element crosses the wire as bfloat16 once
// per reduce-scatter step and once in the all-gather (ranks rounds of unit roundoff
// 2^-8) and sees ranks-1 float32 additions (2^-24 each); the last factor covers
// second-order terms.
func BF16ErrorBound(ranks int) float64 {
	n := float64(ranks)
	return n * (0x1p-8 + 0x1p-24) * (1 + n*0x1p-8)
}
