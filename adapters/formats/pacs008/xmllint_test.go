package pacs008_test

import "testing"

// The test corpus meets two independent readers: ours, and xmllint with
// the official schemas (see formatstest.Format.AgreesWithXmllint).
func TestCorpusAgreesWithXmllint(t *testing.T) { format.AgreesWithXmllint(t, "pacs.008.001.08", 40) }
