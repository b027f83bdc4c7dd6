package formatstest

import (
	"bytes"
	"encoding/xml"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"settle/formats/isoschema"
)

// XSDDir is ../shared/iso20022/xsd, found from this file (so any package
// of the module may use it).
func XSDDir() string {
	_, here, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(here), "..", "..", "..", "shared", "iso20022", "xsd")
}

// SchemaViolations checks a document the scheme wrote with our own
// streaming checker (isoschema) against message's tables.
func SchemaViolations(t testing.TB, message string, r io.Reader) []isoschema.Violation {
	t.Helper()
	s, ok := isoschema.Lookup(message)
	if !ok {
		t.Fatalf("no schema tables for %s", message)
	}
	dec := xml.NewDecoder(r)
	dec.Strict = true
	c := isoschema.NewChecker(s, func() int { l, _ := dec.InputPos(); return l })
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return append(c.Violations(), isoschema.Violation{Message: "not well-formed: " + err.Error()})
		}
		c.Token(tok)
	}
	c.Finish()
	return c.Violations()
}

// WrittenValid fails the test unless the file the scheme wrote is valid
// against message's official schema twice over: by our checker, and by
// xmllint --schema (skipped under -short, where xmllint may be absent).
func WrittenValid(t testing.TB, message, file string) {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if v := SchemaViolations(t, message, f); len(v) > 0 {
		t.Errorf("%s: isoschema refuses %s: %v", file, message, v[:min(len(v), 5)])
	}
	if testing.Short() {
		return
	}
	xmllint, err := exec.LookPath("xmllint")
	if err != nil {
		t.Fatal("xmllint not found: install libxml2-utils (ops/deps.sh does)")
	}
	out, err := exec.Command(xmllint, "--noout", "--huge", "--schema", filepath.Join(XSDDir(), message+".xsd"), file).CombinedOutput()
	if err != nil || !bytes.Contains(out, []byte("validates")) {
		t.Errorf("%s: xmllint refuses %s: %v\n%s", file, message, err, clipOut(out))
	}
}

// WrittenValidBytes is WrittenValid for a document in memory.
func WrittenValidBytes(t testing.TB, message string, doc []byte) {
	t.Helper()
	file := filepath.Join(t.TempDir(), strings.ReplaceAll(message, ".", "_")+".xml")
	if err := os.WriteFile(file, doc, 0o600); err != nil {
		t.Fatal(err)
	}
	WrittenValid(t, message, file)
}

func clipOut(b []byte) string {
	if len(b) > 2000 {
		return string(b[:2000]) + "..."
	}
	return string(b)
}

// XmllintRefuses tells whether xmllint --schema refuses file as message.
func XmllintRefuses(t testing.TB, message, file string) bool {
	t.Helper()
	xmllint, err := exec.LookPath("xmllint")
	if err != nil {
		t.Fatal("xmllint not found: install libxml2-utils (ops/deps.sh does)")
	}
	out, err := exec.Command(xmllint, "--noout", "--schema", filepath.Join(XSDDir(), message+".xsd"), file).CombinedOutput()
	return err != nil || !bytes.Contains(out, []byte("validates"))
}
