package diffusers

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"reflect"
	"sort"
	"strings"
)

// readJSONFile decodes the JSON object in path over v (which holds defaults) and
// returns the keys v's struct does not declare, so callers can keep them.
func readJSONFile(path string, v any) (map[string]json.RawMessage, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("diffusers: %w", err)
	}
	extra, err := decodeJSON(data, v)
	if err != nil {
		return nil, fmt.Errorf("diffusers: %s: %w", path, err)
	}
	return extra, nil
}

// decodeJSON decodes each key of the object in data into the struct field tagged with
// exactly that name (encoding/json alone would also match keys case-insensitively and
// could not name the field a custom decoder rejected).
func decodeJSON(data []byte, v any) (map[string]json.RawMessage, error) {
	var all map[string]json.RawMessage
	if err := json.Unmarshal(data, &all); err != nil {
		return nil, err
	}
	if all == nil {
		return nil, errors.New("not a JSON object")
	}
	rv := reflect.ValueOf(v).Elem()
	rt := rv.Type()
	for i := 0; i < rt.NumField(); i++ {
		name := jsonName(rt.Field(i))
		raw, ok := all[name]
		if name == "" || !ok {
			continue
		}
		delete(all, name)
		if err := json.Unmarshal(raw, rv.Field(i).Addr().Interface()); err != nil {
			var te *json.UnmarshalTypeError
			if errors.As(err, &te) {
				return nil, fmt.Errorf("field %q: JSON %s cannot be a %s", name, te.Value, te.Type)
			}
			return nil, fmt.Errorf("field %q: %w", name, err)
		}
	}
	if len(all) == 0 {
		return nil, nil
	}
	return all, nil
}

// jsonName is the JSON key a struct field decodes ("" when untagged or "-").
func jsonName(f reflect.StructField) string {
	name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
	if name == "-" {
		return ""
	}
	return name
}

// IntList is a config value that diffusers accepts either as one integer (applied to
// every block) or as a per-block list, e.g. attention_head_dim or
// transformer_layers_per_block. JSON null leaves it unchanged (the default).
type IntList []int

// UnmarshalJSON accepts an integer or an array of integers.
func (l *IntList) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if string(b) == "null" {
		return nil
	}
	if len(b) > 0 && b[0] == '[' {
		var v []int
		if err := json.Unmarshal(b, &v); err != nil {
			return fmt.Errorf("want an integer or a list of integers, got %s", b)
		}
		*l = v
		return nil
	}
	var v int
	if err := json.Unmarshal(b, &v); err != nil {
		return fmt.Errorf("want an integer or a list of integers, got %s", b)
	}
	*l = IntList{v}
	return nil
}

// Expand returns one value per block: a single value is repeated n times, a list must
// have exactly n entries. field names the config key in the error.
func (l IntList) Expand(field string, n int) ([]int, error) {
	switch len(l) {
	case 0:
		return nil, fmt.Errorf("%s is not set", field)
	case 1:
		out := make([]int, n)
		for i := range out {
			out[i] = l[0]
		}
		return out, nil
	case n:
		return append([]int(nil), l...), nil
	}
	return nil, fmt.Errorf("%s has %d entries %v, want 1 or %d (one per block)", field, len(l), []int(l), n)
}

// BoolList is a config value given as one boolean or a per-block list
// (only_cross_attention).
type BoolList []bool

// UnmarshalJSON accepts a boolean or an array of booleans.
func (l *BoolList) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if string(b) == "null" {
		return nil
	}
	if len(b) > 0 && b[0] == '[' {
		var v []bool
		if err := json.Unmarshal(b, &v); err != nil {
			return fmt.Errorf("want a boolean or a list of booleans, got %s", b)
		}
		*l = v
		return nil
	}
	var v bool
	if err := json.Unmarshal(b, &v); err != nil {
		return fmt.Errorf("want a boolean or a list of booleans, got %s", b)
	}
	*l = BoolList{v}
	return nil
}

// Expand returns one value per block, as IntList.Expand.
func (l BoolList) Expand(field string, n int) ([]bool, error) {
	switch len(l) {
	case 0:
		return make([]bool, n), nil
	case 1:
		out := make([]bool, n)
		for i := range out {
			out[i] = l[0]
		}
		return out, nil
	case n:
		return append([]bool(nil), l...), nil
	}
	return nil, fmt.Errorf("%s has %d entries, want 1 or %d (one per block)", field, len(l), n)
}

// sortedKeys returns a map's keys in order.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
