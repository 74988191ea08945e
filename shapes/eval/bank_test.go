package eval

import (
	"strings"
	"testing"

	"github.com/latexblend/latexblend/blend"
	"github.com/latexblend/latexblend/trainer"
)

func TestLoadBankMissingFilesAskForRetrain(t *testing.T) {
	_, err := LoadBank(t.TempDir(), Concepts()[:1])
	if err == nil || !strings.Contains(err.Error(), "--retrain") || !strings.Contains(err.Error(), EntryFile("checker-star")) {
		t.Errorf("got %v, want an error naming the missing file and --retrain", err)
	}
}

func TestCheckModelNamesTheConcept(t *testing.T) {
	cs := Concepts()[:2]
	b := &Bank{Entries: map[string]*blend.Entry{}, Deltas: map[string]*trainer.Delta{}}
	for _, c := range cs {
		b.Entries[c.Name] = &blend.Entry{BaseModel: "m1"}
		b.Deltas[c.Name] = &trainer.Delta{BaseModelID: "m1"}
	}
	if err := b.CheckModel("dir", "m1", cs); err != nil {
		t.Fatal(err)
	}
	b.Deltas["rainbow-ring"].BaseModelID = "m0"
	err := b.CheckModel("dir", "m1", cs)
	if err == nil || !strings.Contains(err.Error(), "rainbow-ring delta") || !strings.Contains(err.Error(), "--retrain") {
		t.Errorf("got %v, want an error naming the rainbow-ring delta and --retrain", err)
	}
}
