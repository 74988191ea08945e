package safetensors

import (
	"path/filepath"
	"runtime"
	"testing"
)

// TestReadAllocatesOneCopy checks that reading a tensor allocates its float32 result
// and at most one conversion chunk, never a second full-size buffer: what lets a
// multi-gigabyte checkpoint load without holding two copies in memory.
func TestReadAllocatesOneCopy(t *testing.T) {
	const n = 4 << 20 // 16 MiB as float32
	vals := make([]float32, n)
	for i := range vals {
		vals[i] = float32(i % 1000)
	}
	path := filepath.Join(t.TempDir(), "big.safetensors")
	if err := WriteFile(path, []Tensor{
		{Name: "f32", Shape: []int{n}, F32: vals},
		{Name: "f16", Shape: []int{n}, DType: F16, F32: vals},
	}, nil); err != nil {
		t.Fatal(err)
	}
	vals = nil
	f, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, name := range []string{"f32", "f16"} {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		got, _, err := f.Float32(name)
		runtime.ReadMemStats(&after)
		if err != nil {
			t.Fatal(err)
		}
		alloc := after.TotalAlloc - before.TotalAlloc
		limit := uint64(4*n + chunkBytes + 512<<10) // + the F16 lookup table on first use
		if alloc > limit {
			t.Errorf("reading %s (%d MiB as float32) allocated %d bytes, want <= %d", name, 4*n>>20, alloc, limit)
		}
		if got[999] != 999 {
			t.Errorf("%s[999] = %v", name, got[999])
		}
		t.Logf("%s: %d elements, allocated %.2f MiB", name, n, float64(alloc)/(1<<20))
	}
}

func BenchmarkFloat32(b *testing.B) {
	const n = 1 << 20
	vals := make([]float32, n)
	path := filepath.Join(b.TempDir(), "bench.safetensors")
	var tensors []Tensor
	for _, d := range []DType{F32, F16, BF16} {
		tensors = append(tensors, Tensor{Name: string(d), Shape: []int{n}, DType: d, F32: vals})
	}
	if err := WriteFile(path, tensors, nil); err != nil {
		b.Fatal(err)
	}
	f, err := Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	dst := make([]float32, n)
	for _, d := range []DType{F32, F16, BF16} {
		b.Run(string(d), func(b *testing.B) {
			b.SetBytes(4 * n)
			for i := 0; i < b.N; i++ {
				if err := f.Float32Into(string(d), dst); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkWriteFile(b *testing.B) {
	const n = 1 << 20
	vals := make([]float32, n)
	for i := range vals {
		vals[i] = float32(i)
	}
	path := filepath.Join(b.TempDir(), "bench.safetensors")
	for _, d := range []DType{F32, F16} {
		b.Run(string(d), func(b *testing.B) {
			b.SetBytes(4 * n)
			for i := 0; i < b.N; i++ {
				if err := WriteFile(path, []Tensor{{Name: "w", Shape: []int{n}, DType: d, F32: vals}}, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
