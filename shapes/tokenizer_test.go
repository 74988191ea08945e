package shapes

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/latexblend/latexblend/model/clip"
)

// assetTokenizer is the committed tokenizer folder.
const assetTokenizer = "assets/tokenizer"

// TestCommittedTokenizerIsCurrent fails when the committed files differ from what
// BuildTokenizer makes now (run `latexblend shapes tokenizer --out shapes/assets/tokenizer`).
func TestCommittedTokenizerIsCurrent(t *testing.T) {
	tok := BuildTokenizer()
	for name, want := range map[string][]byte{"vocab.json": tok.VocabJSON(), "merges.txt": tok.MergesTXT()} {
		got, err := os.ReadFile(filepath.Join(assetTokenizer, name))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s/%s differs from BuildTokenizer: regenerate it with `latexblend shapes tokenizer --out shapes/%s`", assetTokenizer, name, assetTokenizer)
		}
	}
}

func loadAssetTokenizer(t *testing.T) *clip.Tokenizer {
	t.Helper()
	tok, err := clip.LoadTokenizer(assetTokenizer)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestTokenizerKeepsWorldWordsWhole(t *testing.T) {
	tok := loadAssetTokenizer(t)
	n := tok.VocabSize()
	if tok.BOS() != n-2 || tok.EOS() != n-1 {
		t.Fatalf("BOS %d, EOS %d, want the last two ids %d, %d", tok.BOS(), tok.EOS(), n-2, n-1)
	}
	if n > 1024 {
		t.Fatalf("vocabulary has %d entries, want a small one", n)
	}
	for _, w := range TokenizerWords() {
		ids := tok.Encode(w)
		if len(ids) != 1 || ids[0] >= n-2 {
			t.Errorf("%q encodes to %v, want one ordinary id", w, ids)
		}
	}
	// The spot checks follow CLIP's layout: bytes, bytes with </w>, merges.
	for _, tc := range []struct {
		text string
		want []int
	}{
		{"!", []int{256}},
		{"a", []int{256 + 'a' - 33}},
		{"xyz", []int{'x' - 33, 'y' - 33, 256 + 'z' - 33}},
	} {
		if got := tok.Encode(tc.text); !equalInts(got, tc.want) {
			t.Errorf("Encode(%q) = %v, want %v", tc.text, got, tc.want)
		}
	}
}

func TestTokenizerEncodesCaptions(t *testing.T) {
	tok := loadAssetTokenizer(t)
	newID := tok.AddTokens(Modifier)[0]
	if newID != tok.VocabSize() {
		t.Fatalf("%s got id %d, want %d (the vocabulary size)", Modifier, newID, tok.VocabSize())
	}
	ds, err := Dataset(2, 50, 16)
	if err != nil {
		t.Fatal(err)
	}
	var prompts []string
	for _, s := range ds {
		prompts = append(prompts, s.Caption)
	}
	for _, c := range Concepts {
		prompts = append(prompts, c.Prompt(), c.Description, "A close-up, detailed photo of "+Modifier+" "+c.Class.String())
	}
	for _, p := range prompts {
		ids := tok.EncodePadded(p)
		eos := indexOf(ids, tok.EOS())
		body := ids[1:eos]
		words := strings.Fields(strings.NewReplacer(",", " , ", "-", " - ").Replace(strings.ToLower(p)))
		if len(body) != len(words) {
			t.Errorf("%q: %d tokens %v for %d words", p, len(body), body, len(words))
		}
		if ids[0] != tok.BOS() || eos != len(words)+1 {
			t.Errorf("%q: ids %v: BOS or EOS misplaced", p, ids[:len(words)+2])
		}
		dec, err := tok.Decode(body)
		if err != nil || squash(dec) != squash(strings.ToLower(p)) {
			t.Errorf("Decode(Encode(%q)) = %q, %v", p, dec, err)
		}
	}
}

func TestTokenizerFallsBackToBytes(t *testing.T) {
	tok := loadAssetTokenizer(t)
	for _, text := range []string{"zebra", "Ünïcödé 猫", "a red star 42!"} {
		ids := tok.Encode(text)
		if len(ids) == 0 {
			t.Fatalf("Encode(%q) is empty", text)
		}
		for _, id := range ids {
			if id < 0 || id >= tok.VocabSize()-2 {
				t.Fatalf("Encode(%q) = %v: id %d out of the ordinary range", text, ids, id)
			}
		}
		dec, err := tok.Decode(ids)
		if err != nil {
			t.Fatal(err)
		}
		if squash(dec) != squash(strings.ToLower(text)) {
			t.Errorf("Decode(Encode(%q)) = %q", text, dec)
		}
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func indexOf(ids []int, id int) int {
	for i, v := range ids {
		if v == id {
			return i
		}
	}
	return -1
}

// squash drops spaces: decoding joins pieces with single spaces at word ends, so spaces
// around punctuation do not survive a round trip.
func squash(s string) string { return strings.ReplaceAll(s, " ", "") }
