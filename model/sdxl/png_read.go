package sdxl

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"strings"
)

// maxTextChunk bounds the size of one text chunk ReadPNGText accepts (and, for
// compressed ones, inflates to), so a hostile file cannot exhaust memory.
const maxTextChunk = 16 << 20

// ReadPNGTextFile returns the text entries of a PNG file; see ReadPNGText.
func ReadPNGTextFile(path string) ([]TextChunk, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("sdxl: png: %w", err)
	}
	defer f.Close()
	texts, err := ReadPNGText(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return texts, nil
}

// ReadPNGText walks a PNG's chunks up to IEND, checking every CRC, and returns its
// tEXt, zTXt and iTXt entries in file order (Latin-1 converted to UTF-8). Image data is
// skipped, not decoded.
func ReadPNGText(r io.Reader) ([]TextChunk, error) {
	var sig [8]byte
	if _, err := io.ReadFull(r, sig[:]); err != nil || !bytes.Equal(sig[:], pngSignature) {
		return nil, fmt.Errorf("sdxl: png: not a PNG file (bad signature)")
	}
	var out []TextChunk
	for {
		var head [8]byte
		if _, err := io.ReadFull(r, head[:]); err != nil {
			return nil, fmt.Errorf("sdxl: png: truncated before IEND: %w", err)
		}
		n := binary.BigEndian.Uint32(head[:4])
		typ := string(head[4:])
		text := typ == "tEXt" || typ == "zTXt" || typ == "iTXt"
		crc := crc32.NewIEEE()
		crc.Write(head[4:])
		var body []byte
		if text {
			if n > maxTextChunk {
				return nil, fmt.Errorf("sdxl: png: %s chunk of %d bytes is too large", typ, n)
			}
			body = make([]byte, n)
			if _, err := io.ReadFull(r, body); err != nil {
				return nil, fmt.Errorf("sdxl: png: truncated %s chunk: %w", typ, err)
			}
			crc.Write(body)
		} else if _, err := io.CopyN(crc, r, int64(n)); err != nil {
			return nil, fmt.Errorf("sdxl: png: truncated %s chunk: %w", typ, err)
		}
		var sum [4]byte
		if _, err := io.ReadFull(r, sum[:]); err != nil {
			return nil, fmt.Errorf("sdxl: png: truncated %s chunk: %w", typ, err)
		}
		if binary.BigEndian.Uint32(sum[:]) != crc.Sum32() {
			return nil, fmt.Errorf("sdxl: png: %s chunk has a bad CRC", typ)
		}
		if text {
			tc, err := parseTextChunk(typ, body)
			if err != nil {
				return nil, err
			}
			out = append(out, tc)
		}
		if typ == "IEND" {
			return out, nil
		}
	}
}

func parseTextChunk(typ string, body []byte) (TextChunk, error) {
	key, rest, ok := bytes.Cut(body, []byte{0})
	if !ok || len(key) == 0 {
		return TextChunk{}, fmt.Errorf("sdxl: png: %s chunk without a keyword", typ)
	}
	switch typ {
	case "tEXt":
		return TextChunk{Key: latin1String(key), Text: latin1String(rest)}, nil
	case "zTXt":
		if len(rest) < 1 || rest[0] != 0 {
			return TextChunk{}, fmt.Errorf("sdxl: png: zTXt %q uses an unknown compression method", key)
		}
		text, err := inflate(rest[1:])
		if err != nil {
			return TextChunk{}, fmt.Errorf("sdxl: png: zTXt %q: %w", key, err)
		}
		return TextChunk{Key: latin1String(key), Text: latin1String(text)}, nil
	}
	// iTXt: compression flag, method, language tag NUL, translated keyword NUL, text.
	if len(rest) < 2 {
		return TextChunk{}, fmt.Errorf("sdxl: png: iTXt %q is truncated", key)
	}
	flag, method := rest[0], rest[1]
	parts := bytes.SplitN(rest[2:], []byte{0}, 3)
	if len(parts) != 3 {
		return TextChunk{}, fmt.Errorf("sdxl: png: iTXt %q is truncated", key)
	}
	text := parts[2]
	if flag == 1 {
		if method != 0 {
			return TextChunk{}, fmt.Errorf("sdxl: png: iTXt %q uses an unknown compression method", key)
		}
		var err error
		if text, err = inflate(text); err != nil {
			return TextChunk{}, fmt.Errorf("sdxl: png: iTXt %q: %w", key, err)
		}
	}
	return TextChunk{Key: latin1String(key), Text: string(text)}, nil
}

func inflate(b []byte) ([]byte, error) {
	zr, err := zlib.NewReader(bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	defer zr.Close()
	out, err := io.ReadAll(io.LimitReader(zr, maxTextChunk+1))
	if err != nil {
		return nil, err
	}
	if len(out) > maxTextChunk {
		return nil, fmt.Errorf("inflates to more than %d bytes", maxTextChunk)
	}
	return out, nil
}

func latin1String(b []byte) string {
	var sb strings.Builder
	for _, c := range b {
		sb.WriteRune(rune(c))
	}
	return sb.String()
}

// LookupText returns the text of the first entry with key.
func LookupText(texts []TextChunk, key string) (string, bool) {
	for _, t := range texts {
		if t.Key == key {
			return t.Text, true
		}
	}
	return "", false
}
