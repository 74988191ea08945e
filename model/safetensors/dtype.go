package safetensors

// DType is a safetensors element type as spelled in the header ("F32", "BF16", ...).
type DType string

// Element types of the safetensors format. Float32 reads accept F32, F16, BF16 and F64;
// Int64 reads accept the integer types and BOOL. The others are recognised (so files
// holding them open and can be listed) but cannot be converted.
const (
	F64     DType = "F64"
	F32     DType = "F32"
	F16     DType = "F16"
	BF16    DType = "BF16"
	F8E4M3  DType = "F8_E4M3"
	F8E5M2  DType = "F8_E5M2"
	I64     DType = "I64"
	I32     DType = "I32"
	I16     DType = "I16"
	I8      DType = "I8"
	U64     DType = "U64"
	U32     DType = "U32"
	U16     DType = "U16"
	U8      DType = "U8"
	Bool    DType = "BOOL"
	invalid DType = ""
)

// dtypeSizes holds the element size in bytes of every known dtype.
var dtypeSizes = map[DType]int64{
	F64: 8, F32: 4, F16: 2, BF16: 2, F8E4M3: 1, F8E5M2: 1,
	I64: 8, I32: 4, I16: 2, I8: 1, U64: 8, U32: 4, U16: 2, U8: 1, Bool: 1,
}

// Size returns the element size in bytes, or 0 for an unknown dtype.
func (d DType) Size() int64 { return dtypeSizes[d] }

// Known reports whether d is a dtype of the safetensors format.
func (d DType) Known() bool { return d.Size() > 0 }

// IsFloat reports whether Float32 can read tensors of this dtype.
func (d DType) IsFloat() bool { return d == F32 || d == F16 || d == BF16 || d == F64 }

// IsInt reports whether Int64 can read tensors of this dtype.
func (d DType) IsInt() bool {
	switch d {
	case I64, I32, I16, I8, U64, U32, U16, U8, Bool:
		return true
	}
	return false
}
