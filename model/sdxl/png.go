package sdxl

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"unicode/utf8"
)

// TextChunk is one PNG text entry: a keyword (1–79 Latin-1 characters, no NUL) and its
// text.
type TextChunk struct {
	Key, Text string
}

var pngSignature = []byte("\x89PNG\r\n\x1a\n")

// EncodePNG encodes img as PNG with the text entries inserted right after the IHDR
// chunk, so readers that stop at the image data still see them. Text that Latin-1 can
// hold goes in a tEXt chunk (what most tools read); other text in an uncompressed iTXt
// chunk (UTF-8).
func EncodePNG(img image.Image, texts []TextChunk) ([]byte, error) {
	var enc bytes.Buffer
	if err := png.Encode(&enc, img); err != nil {
		return nil, fmt.Errorf("sdxl: png: %w", err)
	}
	data := enc.Bytes()
	// The encoder writes the signature then IHDR (4-byte length 13, type, 13 bytes, CRC).
	const ihdrEnd = 8 + 4 + 4 + 13 + 4
	if len(data) < ihdrEnd || string(data[12:16]) != "IHDR" {
		return nil, fmt.Errorf("sdxl: png: unexpected encoder output")
	}
	var out bytes.Buffer
	out.Write(data[:ihdrEnd])
	for _, tc := range texts {
		if err := checkKeyword(tc.Key); err != nil {
			return nil, err
		}
		if latin1, ok := toLatin1(tc.Text); ok {
			writeChunk(&out, "tEXt", append(append([]byte(tc.Key), 0), latin1...))
			continue
		}
		if !utf8.ValidString(tc.Text) {
			return nil, fmt.Errorf("sdxl: png: text of %q is not valid UTF-8", tc.Key)
		}
		// keyword NUL, compression flag 0, method 0, empty language tag NUL, empty
		// translated keyword NUL, text.
		body := append([]byte(tc.Key), 0, 0, 0, 0, 0)
		writeChunk(&out, "iTXt", append(body, tc.Text...))
	}
	out.Write(data[ihdrEnd:])
	return out.Bytes(), nil
}

func checkKeyword(k string) error {
	if len(k) == 0 || len(k) > 79 {
		return fmt.Errorf("sdxl: png: text keyword %q must have 1 to 79 characters", k)
	}
	for _, r := range k {
		if r < 32 || r > 126 {
			return fmt.Errorf("sdxl: png: text keyword %q must be printable ASCII", k)
		}
	}
	return nil
}

// toLatin1 encodes s as ISO 8859-1 when every rune fits.
func toLatin1(s string) ([]byte, bool) {
	out := make([]byte, 0, len(s))
	for _, r := range s {
		if r > 0xff || r == 0 || r == utf8.RuneError {
			return nil, false
		}
		out = append(out, byte(r))
	}
	return out, true
}

func writeChunk(w *bytes.Buffer, typ string, body []byte) {
	var n [4]byte
	binary.BigEndian.PutUint32(n[:], uint32(len(body)))
	w.Write(n[:])
	crc := crc32.NewIEEE()
	crc.Write([]byte(typ))
	crc.Write(body)
	w.WriteString(typ)
	w.Write(body)
	binary.BigEndian.PutUint32(n[:], crc.Sum32())
	w.Write(n[:])
}

// WritePNG writes img with text entries to path atomically: a temporary file in the
// same folder is written, synced and renamed over path, so readers never see a
// partial image.
func WritePNG(path string, img image.Image, texts []TextChunk) (err error) {
	data, err := EncodePNG(img, texts)
	if err != nil {
		return err
	}
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("sdxl: png: %w", err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err = tmp.Write(data); err != nil {
		return fmt.Errorf("sdxl: png: writing %s: %w", path, err)
	}
	if err = tmp.Chmod(0o644); err != nil {
		return fmt.Errorf("sdxl: png: %w", err)
	}
	if err = tmp.Sync(); err != nil {
		return fmt.Errorf("sdxl: png: syncing %s: %w", path, err)
	}
	if err = tmp.Close(); err != nil {
		return fmt.Errorf("sdxl: png: closing %s: %w", path, err)
	}
	if err = os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("sdxl: png: %w", err)
	}
	return nil
}
