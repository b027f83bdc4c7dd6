package pacs008_test

import "testing"

// FuzzParse checks the parser's invariants on any input (see
// formatstest.Format.FuzzInvariants), seeded with every testdata file.
func FuzzParse(f *testing.F) { format.Fuzz(f) }
