package diffusers

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// ReadKeysTSV reads a parameter list written as "<name>\t[d0, d1, ...]" lines, with
// '#' comment lines and blank lines ignored (the format of
// ../shared/spec/unet-keys-sdxl.tsv). It rejects duplicates and malformed shapes,
// naming the line.
func ReadKeysTSV(path string) ([]ParamSpec, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("diffusers: %w", err)
	}
	defer f.Close()
	var specs []ParamSpec
	seen := map[string]int{}
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		name, shapeText, ok := strings.Cut(text, "\t")
		if !ok || name == "" {
			return nil, fmt.Errorf("diffusers: %s:%d: want \"<name>\\t[shape]\", got %q", path, line, text)
		}
		shape, err := parseShape(shapeText)
		if err != nil {
			return nil, fmt.Errorf("diffusers: %s:%d: %s: %w", path, line, name, err)
		}
		if prev, dup := seen[name]; dup {
			return nil, fmt.Errorf("diffusers: %s:%d: %s already listed on line %d", path, line, name, prev)
		}
		seen[name] = line
		specs = append(specs, ParamSpec{Name: name, Shape: shape})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("diffusers: %s: %w", path, err)
	}
	return specs, nil
}

// parseShape parses "[320, 4, 3, 3]" (or "[]" for a scalar).
func parseShape(s string) ([]int, error) {
	s = strings.TrimSpace(s)
	if !strings.HasPrefix(s, "[") || !strings.HasSuffix(s, "]") {
		return nil, fmt.Errorf("shape %q is not a [d0, d1, ...] list", s)
	}
	inner := strings.TrimSpace(s[1 : len(s)-1])
	shape := []int{}
	if inner == "" {
		return shape, nil
	}
	for _, part := range strings.Split(inner, ",") {
		d, err := strconv.Atoi(strings.TrimSpace(part))
		if err != nil || d < 0 {
			return nil, fmt.Errorf("shape %q has a bad dimension %q", s, part)
		}
		shape = append(shape, d)
	}
	return shape, nil
}
