package sampler

// Test helpers for the external test package (cluster tests import devstack, which
// imports this package).
var (
	LoadTinyForTest    = loadTiny
	RandomEntryForTest = randomEntry
	EntryBytesForTest  = entryBytes
)
