package sdxl

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"encoding/json"
	"hash/crc32"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func testImage() *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, 5, 3))
	for y := range 3 {
		for x := range 5 {
			img.Set(x, y, color.RGBA{uint8(40 * x), uint8(80 * y), 7, 255})
		}
	}
	return img
}

func testMetadata(prompt string) *ImageMetadata {
	neg := "blurry, low quality"
	return &ImageMetadata{
		Format: MetadataFormat, Version: "v1.2.3", ModelIdentity: strings.Repeat("ab", 32), ModelDir: "/models/sdxl",
		Params: Params{
			Prompt: prompt, NegativePrompt: &neg, Steps: 30, GuidanceScale: 6.5, Height: 1024, Width: 768,
			Size:      SizeConditioning{OriginalSize: [2]int{1024, 768}, TargetSize: [2]int{1024, 768}},
			Scheduler: "euler", NumImages: 2, Seed: 41,
		},
		BatchIndex: 1, ImageSeed: 42,
		InitLatents: &LatentsRef{File: "z.safetensors", SHA256: "0123456789abcdef", Row: 1},
		Extensions:  map[string]json.RawMessage{"blend": json.RawMessage(`{"concepts":["dog"]}`)},
	}
}

// TestPNGMetadataRoundTrip writes images whose prompts need Latin-1, UTF-8 beyond
// Latin-1 and astral characters, reads the chunks back with our reader and checks the
// metadata, the summary text and the pixels (decoded by image/png).
func TestPNGMetadataRoundTrip(t *testing.T) {
	for _, prompt := range []string{"a photo of a dog", "un café crème, naïve style", "一只狗 wearing 🕶️ sunglasses"} {
		t.Run(prompt, func(t *testing.T) {
			m := testMetadata(prompt)
			texts, err := m.TextChunks()
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(t.TempDir(), "img.png")
			if err := WritePNG(path, testImage(), texts); err != nil {
				t.Fatal(err)
			}
			got, err := ReadPNGTextFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 2 || got[0].Key != MetadataKey || got[1].Key != ParametersKey {
				t.Fatalf("text entries %+v", got)
			}
			js, _ := LookupText(got, MetadataKey)
			for _, r := range js {
				if r > 127 {
					t.Fatalf("metadata JSON is not ASCII: %q", js)
				}
			}
			back, err := ParseImageMetadata(got)
			if err != nil {
				t.Fatal(err)
			}
			if back.Prompt != prompt || *back.NegativePrompt != *m.NegativePrompt || back.Steps != 30 || back.GuidanceScale != 6.5 ||
				back.Seed != 41 || back.ImageSeed != 42 || back.Width != 768 || back.Height != 1024 || back.Scheduler != "euler" ||
				back.ModelIdentity != m.ModelIdentity || back.Version != "v1.2.3" || back.InitLatents == nil || *back.InitLatents != *m.InitLatents ||
				back.Size != m.Size || string(back.Extensions["blend"]) != `{"concepts":["dog"]}` {
				t.Errorf("metadata round trip\n got %+v\nwant %+v", back, m)
			}
			params, _ := LookupText(got, ParametersKey)
			if params != m.ParametersText() {
				t.Errorf("parameters text %q, want %q", params, m.ParametersText())
			}
			for _, want := range []string{prompt + "\n", "Negative prompt: blurry, low quality\n", "Steps: 30", "CFG scale: 6.5", "Seed: 42", "Size: 768x1024", "Model hash: abababababab", "Version: latexblend v1.2.3"} {
				if !strings.Contains(params, want) {
					t.Errorf("parameters text %q lacks %q", params, want)
				}
			}
			f, err := os.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			img, err := png.Decode(f)
			if err != nil {
				t.Fatalf("image/png cannot decode our file: %v", err)
			}
			want := testImage()
			for y := range 3 {
				for x := range 5 {
					if r, g, b, a := img.At(x, y).RGBA(); color.RGBA64Model.Convert(want.At(x, y)) != (color.RGBA64{uint16(r), uint16(g), uint16(b), uint16(a)}) {
						t.Fatalf("pixel (%d,%d) changed", x, y)
					}
				}
			}
		})
	}
}

// TestPNGTextChunkKinds checks the chunk type chosen for each text and that the reader
// understands compressed zTXt and iTXt written by other tools.
func TestPNGTextChunkKinds(t *testing.T) {
	data, err := EncodePNG(testImage(), []TextChunk{{"latin", "café"}, {"wide", "狗"}})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(data, []byte("tEXtlatin\x00caf\xe9")) {
		t.Error("Latin-1 text is not a Latin-1 tEXt chunk")
	}
	if !bytes.Contains(data, []byte("iTXtwide\x00\x00\x00\x00\x00狗")) {
		t.Error("non-Latin-1 text is not an uncompressed iTXt chunk")
	}
	if i, j := bytes.Index(data, []byte("tEXt")), bytes.Index(data, []byte("IDAT")); i < 0 || i > j {
		t.Error("text chunks do not precede the image data")
	}
	var zbuf bytes.Buffer
	zw := zlib.NewWriter(&zbuf)
	zw.Write([]byte("compressed \xe9"))
	zw.Close()
	var izbuf bytes.Buffer
	zw = zlib.NewWriter(&izbuf)
	zw.Write([]byte("compressed 狗"))
	zw.Close()
	var extra bytes.Buffer
	writeChunk(&extra, "zTXt", append([]byte("z\x00\x00"), zbuf.Bytes()...))
	writeChunk(&extra, "iTXt", append([]byte("iz\x00\x01\x00en\x00\x00"), izbuf.Bytes()...))
	withExtra := insertAfterIHDR(data, extra.Bytes())
	got, err := ReadPNGText(bytes.NewReader(withExtra))
	if err != nil {
		t.Fatal(err)
	}
	want := []TextChunk{{"z", "compressed é"}, {"iz", "compressed 狗"}, {"latin", "café"}, {"wide", "狗"}}
	if len(got) != len(want) {
		t.Fatalf("entries %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("entry %d = %+v, want %+v", i, got[i], want[i])
		}
	}
}

func insertAfterIHDR(data, chunks []byte) []byte {
	const ihdrEnd = 33
	out := append([]byte(nil), data[:ihdrEnd]...)
	out = append(out, chunks...)
	return append(out, data[ihdrEnd:]...)
}

func TestPNGReadErrors(t *testing.T) {
	good, err := EncodePNG(testImage(), []TextChunk{{"k", "v"}})
	if err != nil {
		t.Fatal(err)
	}
	corrupt := append([]byte(nil), good...)
	at := bytes.Index(corrupt, []byte("tEXtk")) + 5
	corrupt[at+1] ^= 1 // the "v"
	huge := insertAfterIHDR(good, func() []byte {
		var b [8]byte
		binary.BigEndian.PutUint32(b[:4], maxTextChunk+1)
		copy(b[4:], "tEXt")
		return b[:]
	}())
	noKey := insertAfterIHDR(good, func() []byte { var b bytes.Buffer; writeChunk(&b, "tEXt", []byte("\x00text")); return b.Bytes() }())
	for _, c := range []struct {
		name string
		data []byte
		want string
	}{
		{"not png", []byte("GIF89a........"), "bad signature"},
		{"bad crc", corrupt, "tEXt chunk has a bad CRC"},
		{"truncated", good[:len(good)-6], "truncated"},
		{"huge text", huge, "too large"},
		{"no keyword", noKey, "without a keyword"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := ReadPNGText(bytes.NewReader(c.data))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want one containing %q", err, c.want)
			}
		})
	}
	if crc32.ChecksumIEEE([]byte("IEND")) != binary.BigEndian.Uint32(good[len(good)-4:]) {
		t.Error("the file does not end with a valid IEND chunk")
	}
}

func TestPNGWriteErrorsAndAtomicity(t *testing.T) {
	for _, key := range []string{"", strings.Repeat("k", 80), "bad\x00key", "clé"} {
		if _, err := EncodePNG(testImage(), []TextChunk{{key, "x"}}); err == nil {
			t.Errorf("keyword %q accepted", key)
		}
	}
	if _, err := EncodePNG(testImage(), []TextChunk{{"k", "bad \xff utf8 and 狗"}}); err == nil {
		t.Error("invalid UTF-8 text accepted")
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "out.png")
	if err := os.WriteFile(path, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := WritePNG(path, testImage(), []TextChunk{{"", "x"}}); err == nil {
		t.Fatal("bad keyword written")
	}
	if b, _ := os.ReadFile(path); string(b) != "old" {
		t.Error("a failed write changed the existing file")
	}
	if err := WritePNG(path, testImage(), []TextChunk{{"k", "v"}}); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("folder holds %d entries after writing (temporary file left?)", len(entries))
	}
	if err := WritePNG(filepath.Join(dir, "missing", "x.png"), testImage(), nil); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("write into a missing folder: %v", err)
	}
}

func TestParseImageMetadataErrors(t *testing.T) {
	if _, err := ParseImageMetadata([]TextChunk{{ParametersKey, "x"}}); err == nil || !strings.Contains(err.Error(), `no "latexblend"`) {
		t.Errorf("missing key: %v", err)
	}
	if _, err := ParseImageMetadata([]TextChunk{{MetadataKey, "{"}}); err == nil {
		t.Error("bad JSON accepted")
	}
	if _, err := ParseImageMetadata([]TextChunk{{MetadataKey, `{"format":"other/v9"}`}}); err == nil || !strings.Contains(err.Error(), "other/v9") {
		t.Errorf("wrong format: %v", err)
	}
}
