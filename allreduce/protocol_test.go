package allreduce

import (
	"strings"
	"testing"
	"time"
)

func TestConfigValidate(t *testing.T) {
	ok := Config{Job: "j", Rank: 1, Size: 2}
	tests := []struct {
		name  string
		edit  func(*Config)
		field string // "" = valid
	}{
		{"valid", func(*Config) {}, ""},
		{"empty job", func(c *Config) { c.Job = "" }, "Job"},
		{"dotted job", func(c *Config) { c.Job = "a.b" }, "Job"},
		{"wildcard job", func(c *Config) { c.Job = "a*" }, "Job"},
		{"zero size", func(c *Config) { c.Size = 0 }, "Size"},
		{"rank too big", func(c *Config) { c.Rank = 2 }, "Rank"},
		{"negative rank", func(c *Config) { c.Rank = -1 }, "Rank"},
		{"negative piece", func(c *Config) { c.PieceBytes = -1 }, "PieceBytes"},
		{"negative window", func(c *Config) { c.WindowBytes = -1 }, "WindowBytes"},
		{"negative timeout", func(c *Config) { c.Timeout = -time.Second }, "Timeout"},
		{"unknown wire", func(c *Config) { c.Wire = 7 }, "Wire"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := ok
			tc.edit(&c)
			err := c.Validate()
			switch {
			case tc.field == "" && err != nil:
				t.Fatalf("unexpected error %v", err)
			case tc.field != "" && (err == nil || !strings.Contains(err.Error(), "Config."+tc.field)):
				t.Fatalf("error %v does not name Config.%s", err, tc.field)
			}
		})
	}
}

func TestParseWire(t *testing.T) {
	for s, want := range map[string]Wire{"f32": WireF32, "bf16": WireBF16} {
		if w, err := ParseWire(s); err != nil || w != want || w.String() != s {
			t.Errorf("ParseWire(%q) = %v, %v", s, w, err)
		}
	}
	if _, err := ParseWire("fp8"); err == nil || !strings.Contains(err.Error(), "fp8") {
		t.Errorf("ParseWire(fp8) error %v", err)
	}
}

func TestSubjectsRoundTrip(t *testing.T) {
	h, err := parseSubject(dataSubject("job", 3, 9, 2, 5, 17, 1003))
	if err != nil || h.ack || h.gen != 3 || h.seq != 9 || h.to != 2 || h.step != 5 || h.piece != 17 || h.length != 1003 {
		t.Fatalf("data subject parsed as %+v, %v", h, err)
	}
	h, err = parseSubject(ackSubject("job", 3, 9, 1, 42))
	if err != nil || !h.ack || h.to != 1 || h.piece != 42 {
		t.Fatalf("ack subject parsed as %+v, %v", h, err)
	}
	for _, bad := range []string{"allreduce.job.ctl", "x.job.1.2.3.d.1.2.3", "allreduce.job.1.2.3.d.1.2", "allreduce.job.a.2.3.a.1", "allreduce.job.1.2.3.a.x"} {
		if _, err := parseSubject(bad); err == nil {
			t.Errorf("parseSubject(%q) accepted", bad)
		}
	}
}

// TestLayoutCoversVector: chunks tile the vector, chunk lengths differ by at most one,
// pieces tile each chunk without exceeding the piece size.
func TestLayoutCoversVector(t *testing.T) {
	for _, tc := range []struct{ total, size, piece int }{{0, 3, 4}, {1, 4, 4}, {5, 8, 1}, {37, 3, 5}, {1003, 7, 10}, {100, 1, 100}} {
		l := layout(tc)
		next := 0
		minLen, maxLen := tc.total, 0
		for c := range tc.size {
			s, e := l.chunk(c)
			if s != next {
				t.Fatalf("%+v: chunk %d starts at %d, want %d", tc, c, s, next)
			}
			minLen, maxLen = min(minLen, e-s), max(maxLen, e-s)
			p := s
			for j := range l.pieces(c) {
				a, b := l.pieceRange(c, j)
				if a != p || b <= a || b-a > tc.piece || b > e {
					t.Fatalf("%+v: chunk %d piece %d = [%d,%d)", tc, c, j, a, b)
				}
				p = b
			}
			if p != e {
				t.Fatalf("%+v: chunk %d pieces end at %d, want %d", tc, c, p, e)
			}
			next = e
		}
		if next != tc.total || maxLen-minLen > 1 {
			t.Fatalf("%+v: chunks end at %d, lengths %d..%d", tc, next, minLen, maxLen)
		}
	}
}

func TestFusedSegments(t *testing.T) {
	a, b, c := make([]float32, 3), []float32{}, make([]float32, 4)
	f := newFused([][]float32{a, b, c})
	var got [][2]int
	f.each(1, 6, func(seg []float32, off int) { got = append(got, [2]int{off, len(seg)}) })
	if len(got) != 2 || got[0] != [2]int{0, 2} || got[1] != [2]int{2, 3} {
		t.Fatalf("segments of [1,6) = %v, want [[0 2] [2 3]]", got)
	}
	if _, ok := f.contiguous(1, 6); ok {
		t.Fatal("[1,6) spans two buffers but was reported contiguous")
	}
	if s, ok := f.contiguous(3, 7); !ok || len(s) != 4 || &s[0] != &c[0] {
		t.Fatal("[3,7) should be all of the third buffer")
	}
}
