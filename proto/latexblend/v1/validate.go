package latexblendv1

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"unicode"
)

// FieldError is a validation failure of one request field. Its message names the field
// (a path such as "spec.instance_images[2].digest") and says what was wrong, with the
// offending value, e.g. "steps: must be in 1..1000 (or 0 for the default 50), got 1001".
// go-grpc-middleware's validator interceptor turns it into codes.InvalidArgument with
// this message.
type FieldError struct {
	// Field is the path of the field in the request.
	Field string
	// Reason says what is wrong with it.
	Reason string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Reason }

// fieldErrors collects every FieldError of one request: Validate reports the first,
// ValidateAll all of them.
type fieldErrors struct{ errs []error }

func (f *fieldErrors) add(field, format string, args ...any) {
	f.errs = append(f.errs, &FieldError{Field: field, Reason: fmt.Sprintf(format, args...)})
}

// check records err, if any, as a failure of field.
func (f *fieldErrors) check(field string, err error) {
	if err != nil {
		f.errs = append(f.errs, &FieldError{Field: field, Reason: err.Error()})
	}
}

func (f *fieldErrors) first() error {
	if len(f.errs) == 0 {
		return nil
	}
	return f.errs[0]
}

func (f *fieldErrors) all() error { return errors.Join(f.errs...) }

// intIn checks lo <= v <= hi, where 0 also passes when zeroDefault says what 0 means.
func (f *fieldErrors) intIn(field string, v, lo, hi int64, zeroDefault string) {
	if v == 0 && zeroDefault != "" {
		return
	}
	if v < lo || v > hi {
		if zeroDefault != "" {
			f.add(field, "must be in %d..%d (or 0 for %s), got %d", lo, hi, zeroDefault, v)
		} else {
			f.add(field, "must be in %d..%d, got %d", lo, hi, v)
		}
	}
}

// floatIn checks that v is finite and lo <= v <= hi.
func (f *fieldErrors) floatIn(field string, v float32, lo, hi float64) {
	x := float64(v)
	if math.IsNaN(x) || math.IsInf(x, 0) || x < lo || x > hi {
		f.add(field, "must be a number in [%g, %g], got %g", lo, hi, v)
	}
}

// maxBytes checks len(s) <= n.
func (f *fieldErrors) maxBytes(field, s string, n int) {
	if len(s) > n {
		f.add(field, "must be at most %d bytes, got %d", n, len(s))
	}
}

// CheckConceptName reports whether name is a valid concept name: 1-MaxNameLen
// characters from a-z, 0-9, '.', '_', '-', starting with a letter or digit, without "..".
// Names become etcd keys and object names, so nothing path-like gets through.
func CheckConceptName(name string) error {
	bad := len(name) == 0 || len(name) > MaxNameLen || strings.Contains(name, "..")
	for i := 0; !bad && i < len(name); i++ {
		c := name[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case (c == '.' || c == '_' || c == '-') && i > 0:
		default:
			bad = true
		}
	}
	if bad {
		return fmt.Errorf("%q is not a valid concept name: use 1-%d characters from a-z, 0-9, '.', '_', '-', starting with a letter or digit, without \"..\"", name, MaxNameLen)
	}
	return nil
}

// CheckClassNoun reports whether noun is a valid class noun: 1-MaxClassNounLen bytes of
// letters, digits, single spaces, hyphens and apostrophes, with at least one letter and no leading
// or trailing space ("dog", "teddy bear", "t-shirt").
func CheckClassNoun(noun string) error {
	if noun == "" {
		return errors.New("must not be empty")
	}
	if len(noun) > MaxClassNounLen {
		return fmt.Errorf("must be at most %d bytes, got %d", MaxClassNounLen, len(noun))
	}
	if strings.TrimSpace(noun) != noun || strings.Contains(noun, "  ") {
		return fmt.Errorf("%q has leading, trailing or repeated spaces", noun)
	}
	letters := 0
	for _, r := range noun {
		switch {
		case unicode.IsLetter(r):
			letters++
		case unicode.IsDigit(r), r == ' ', r == '-', r == '\'':
		default:
			return fmt.Errorf("%q contains %q: use letters, digits, spaces, '-' and '\\''", noun, r)
		}
	}
	if letters == 0 {
		return fmt.Errorf("%q contains no letter", noun)
	}
	return nil
}

// CheckToken reports whether tok is a valid modifier or initializer token: 1-MaxTokenLen
// bytes without whitespace or control characters.
func CheckToken(tok string) error {
	if tok == "" {
		return errors.New("must not be empty")
	}
	if len(tok) > MaxTokenLen {
		return fmt.Errorf("must be at most %d bytes, got %d", MaxTokenLen, len(tok))
	}
	if i := strings.IndexFunc(tok, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }); i >= 0 {
		return fmt.Errorf("%q contains whitespace or a control character", tok)
	}
	return nil
}

// CheckDigest reports whether d is a digest in the API's form: "sha256:" followed by 64
// lowercase hex digits.
func CheckDigest(d string) error {
	const prefix = "sha256:"
	hex, ok := strings.CutPrefix(d, prefix)
	good := ok && len(hex) == 64
	for i := 0; good && i < len(hex); i++ {
		c := hex[i]
		good = c >= '0' && c <= '9' || c >= 'a' && c <= 'f'
	}
	if !good {
		return fmt.Errorf("%q is not a digest: want \"sha256:\" followed by 64 lowercase hex digits", d)
	}
	return nil
}

// CheckID reports whether id is a ULID as the cluster makes them for jobs and members:
// 26 characters of Crockford base32 (upper or lower case), the first one 0-7.
func CheckID(id string) error {
	good := len(id) == 26 && id[0] >= '0' && id[0] <= '7'
	for i := 0; good && i < len(id); i++ {
		c := id[i]
		if c >= 'a' && c <= 'z' {
			c -= 'a' - 'A'
		}
		good = c >= '0' && c <= '9' || c >= 'A' && c <= 'Z' && c != 'I' && c != 'L' && c != 'O' && c != 'U'
	}
	if !good {
		return fmt.Errorf("%q is not an id: want a 26-character ULID", id)
	}
	return nil
}

// CheckBaseModelID reports whether id can be a base model identity: at most
// MaxBaseModelIDLen bytes without whitespace or control characters. Empty is for the
// caller to allow or refuse.
func CheckBaseModelID(id string) error {
	if len(id) > MaxBaseModelIDLen {
		return fmt.Errorf("must be at most %d bytes, got %d", MaxBaseModelIDLen, len(id))
	}
	if strings.IndexFunc(id, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0 {
		return fmt.Errorf("%q contains whitespace or a control character", id)
	}
	return nil
}

// foldText lowercases s and collapses whitespace runs to one space, roughly as CLIP's
// tokenizer cleans text, so that containment checks agree with the tokenizer on
// ordinary prompts. The exact token-level check is blend's.
func foldText(s string) string { return strings.Join(strings.Fields(strings.ToLower(s)), " ") }

func (f *fieldErrors) pageSize(field string, n int32) {
	f.intIn(field, int64(n), 1, MaxPageSize, fmt.Sprintf("the default %d", DefaultPageSize))
}
