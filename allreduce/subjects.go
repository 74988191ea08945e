package allreduce

import (
	"fmt"
	"strconv"
	"strings"
)

// Subjects. Every data and ack subject names job, generation, operation sequence number
// and the receiving rank, so a rank subscribes once (to its own rank, any generation and
// operation) and can tell late messages of old generations or operations from current
// ones without decoding the payload:
//
//	allreduce.<job>.<gen>.<seq>.<to>.d.<step>.<piece>.<len>   a piece; payload = elements
//	allreduce.<job>.<gen>.<seq>.<to>.a.<count>                cumulative ack; empty payload
//	allreduce.<job>.ctl                                       JSON control (hello, leave, abort)
//
// <len> is the fused vector length in elements, so ranks whose buffers differ fail with
// ErrMismatch instead of summing garbage. Step and piece live in the subject, not in a
// payload header, so a float32 piece is published straight from the caller's buffer.
const subjectRoot = "allreduce"

func inboxSubject(job string, rank int) string {
	return fmt.Sprintf("%s.%s.*.*.%d.>", subjectRoot, job, rank)
}

func controlSubject(job string) string { return subjectRoot + "." + job + ".ctl" }

func dataSubject(job string, gen, seq uint64, to, step, piece, length int) string {
	return fmt.Sprintf("%s.%s.%d.%d.%d.d.%d.%d.%d", subjectRoot, job, gen, seq, to, step, piece, length)
}

func ackSubject(job string, gen, seq uint64, to, count int) string {
	return fmt.Sprintf("%s.%s.%d.%d.%d.a.%d", subjectRoot, job, gen, seq, to, count)
}

// header is a parsed data or ack subject.
type header struct {
	gen, seq uint64
	to       int
	ack      bool
	// data: step, piece, length; ack: count in piece.
	step, piece, length int
}

func parseSubject(subject string) (header, error) {
	var h header
	tok := strings.Split(subject, ".")
	if len(tok) < 7 || tok[0] != subjectRoot {
		return h, fmt.Errorf("allreduce: malformed subject %q", subject)
	}
	var err error
	num := func(s string) int {
		v, e := strconv.Atoi(s)
		if e != nil && err == nil {
			err = fmt.Errorf("allreduce: subject %q: bad number %q", subject, s)
		}
		return v
	}
	if h.gen, err = strconv.ParseUint(tok[2], 10, 64); err != nil {
		return h, fmt.Errorf("allreduce: subject %q: bad generation: %w", subject, err)
	}
	if h.seq, err = strconv.ParseUint(tok[3], 10, 64); err != nil {
		return h, fmt.Errorf("allreduce: subject %q: bad operation number: %w", subject, err)
	}
	h.to = num(tok[4])
	switch {
	case tok[5] == "d" && len(tok) == 9:
		h.step, h.piece, h.length = num(tok[6]), num(tok[7]), num(tok[8])
	case tok[5] == "a" && len(tok) == 7:
		h.ack = true
		h.piece = num(tok[6])
	default:
		return h, fmt.Errorf("allreduce: malformed subject %q", subject)
	}
	return h, err
}
