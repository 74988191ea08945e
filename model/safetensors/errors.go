package safetensors

import (
	"errors"
	"fmt"
)

// ErrNotFound is wrapped by errors for a tensor name the file does not hold.
var ErrNotFound = errors.New("tensor not found")

// FormatError reports a malformed or unusable safetensors file. File is empty when the
// header was parsed from memory (ParseHeader); Tensor is empty when the problem is not
// tied to one tensor.
type FormatError struct {
	File   string
	Tensor string
	Reason string
}

func (e *FormatError) Error() string {
	msg := "safetensors: "
	if e.File != "" {
		msg += e.File + ": "
	}
	if e.Tensor != "" {
		msg += fmt.Sprintf("tensor %q: ", e.Tensor)
	}
	return msg + e.Reason
}

func formatErr(tensor, format string, args ...any) *FormatError {
	return &FormatError{Tensor: tensor, Reason: fmt.Sprintf(format, args...)}
}

// withFile sets the file name on a *FormatError produced without one.
func withFile(err error, file string) error {
	var fe *FormatError
	if errors.As(err, &fe) && fe.File == "" {
		fe.File = file
	}
	return err
}
