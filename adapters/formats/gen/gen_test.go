package gen_test

import (
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"settle/adapters/formats/gen"
)

// TestWrittenXMLIsSchemaValid: every pacs.008 the generator writes (the
// demo's, the benchmarks' and the e2e tier's) is valid against the
// official pacs.008.001.08 schema, checked by xmllint as an independent
// oracle, across currencies, remittances and bank counts.
func TestWrittenXMLIsSchemaValid(t *testing.T) {
	if testing.Short() {
		t.Skip("needs xmllint (libxml2-utils)")
	}
	xmllint, err := exec.LookPath("xmllint")
	if err != nil {
		t.Fatal("xmllint not found: install libxml2-utils (ops/deps.sh does)")
	}
	_, here, _, _ := runtime.Caller(0)
	xsd := filepath.Join(filepath.Dir(here), "..", "..", "..", "..", "shared", "iso20022", "xsd", "pacs.008.001.08.xsd")
	w, err := gen.Day(gen.Config{Banks: 5, Payments: 400, Date: "2026-11-24", Seed: 3, XMLEvery: 1}, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	var xml []string
	for _, f := range w.Files {
		if strings.HasSuffix(f, ".xml") {
			xml = append(xml, f)
		}
	}
	if len(xml) != 5 {
		t.Fatalf("%d XML files, want 5", len(xml))
	}
	out, err := exec.Command(xmllint, append([]string{"--noout", "--schema", xsd}, xml...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("xmllint refuses the generated files: %v\n%s", err, out)
	}
	if n := strings.Count(string(out), " validates"); n != len(xml) {
		t.Fatalf("xmllint validated %d of %d files:\n%s", n, len(xml), out)
	}
}
