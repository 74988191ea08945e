package clip

// fixEncoding undoes mojibake. Placeholder: returns text unchanged.
func fixEncoding(s string) string { return s }
