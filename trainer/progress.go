package trainer

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"
)

// ProgressEvent is one optimizer step as the progress display and callbacks see it.
type ProgressEvent struct {
	Step, Total int
	Loss        float64
	// LossAvg is an exponential moving average (0.9) of the loss.
	LossAvg     float64
	StepsPerSec float64
	ETA         time.Duration
	Elapsed     time.Duration
}

// Progress turns step results into ProgressEvents: it draws a terminal progress bar
// on W (redrawn in place on a terminal, one line per step otherwise) and hands every
// event to Callback (the coordinator streams them). Both are optional.
type Progress struct {
	W        io.Writer
	Callback func(ProgressEvent)

	mu        sync.Mutex
	total     int
	first     int
	start     time.Time
	avg       float64
	haveAvg   bool
	tty       bool
	lastWidth int
}

// NewProgress starts a display for a run of total steps that starts after step from
// (non-zero when resuming).
func NewProgress(w io.Writer, total, from int, cb func(ProgressEvent)) *Progress {
	p := &Progress{W: w, Callback: cb, total: total, first: from, start: time.Now()}
	if f, ok := w.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			p.tty = true
		}
	}
	return p
}

// Update records one finished step.
func (p *Progress) Update(sr StepResult) {
	p.mu.Lock()
	if !p.haveAvg {
		p.avg, p.haveAvg = sr.Loss, true
	} else {
		p.avg = 0.9*p.avg + 0.1*sr.Loss
	}
	el := time.Since(p.start)
	ev := ProgressEvent{Step: sr.Step, Total: p.total, Loss: sr.Loss, LossAvg: p.avg, Elapsed: el}
	if done := sr.Step - p.first; done > 0 && el > 0 {
		ev.StepsPerSec = float64(done) / el.Seconds()
		ev.ETA = time.Duration(float64(p.total-sr.Step) / ev.StepsPerSec * float64(time.Second)).Round(time.Second)
	}
	if p.W != nil {
		p.draw(ev)
	}
	cb := p.Callback
	p.mu.Unlock()
	if cb != nil {
		cb(ev)
	}
}

// Line formats an event as the bar shows it.
func (ev ProgressEvent) Line() string {
	const width = 24
	filled := 0
	if ev.Total > 0 {
		filled = min(width, ev.Step*width/ev.Total)
	}
	return fmt.Sprintf("[%s%s] %d/%d loss %.4f (avg %.4f) %.2f steps/s ETA %s",
		strings.Repeat("#", filled), strings.Repeat("-", width-filled), ev.Step, ev.Total, ev.Loss, ev.LossAvg, ev.StepsPerSec, ev.ETA)
}

func (p *Progress) draw(ev ProgressEvent) {
	line := ev.Line()
	if !p.tty {
		fmt.Fprintln(p.W, line)
		return
	}
	pad := max(p.lastWidth-len(line), 0)
	p.lastWidth = len(line)
	fmt.Fprintf(p.W, "\r%s%s", line, strings.Repeat(" ", pad))
	if ev.Step >= ev.Total {
		fmt.Fprintln(p.W)
	}
}
