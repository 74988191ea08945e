package trainer

import (
	"bytes"
	"strings"
	"testing"
)

func TestProgressEventsAndBar(t *testing.T) {
	var buf bytes.Buffer
	var events []ProgressEvent
	p := NewProgress(&buf, 4, 0, func(ev ProgressEvent) { events = append(events, ev) })
	for s := 1; s <= 4; s++ {
		p.Update(StepResult{Step: s, Loss: float64(5 - s)})
	}
	if len(events) != 4 || events[3].Step != 4 || events[3].Total != 4 || events[3].Loss != 1 {
		t.Fatalf("events %+v", events)
	}
	if d := events[1].LossAvg - (0.9*4 + 0.1*3); d > 1e-12 || d < -1e-12 {
		t.Errorf("moving average %v", events[1].LossAvg)
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 4 || !strings.HasPrefix(lines[3], "[########################] 4/4 loss 1.0000") || !strings.Contains(lines[3], "steps/s ETA") {
		t.Errorf("bar output %q", buf.String())
	}
}
