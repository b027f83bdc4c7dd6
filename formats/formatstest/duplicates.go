package formatstest

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"settle/formats"
	"settle/settlement"
)

// EveryElementTwice takes a valid file of the format (a bare Document of
// message) and, for every element in it, writes the file with that element
// repeated right after itself. Each of those files is given to xmllint and
// to our reader: where the schema allows the element once, xmllint refuses
// the file, and our reader must refuse it with SCHEMA naming the element
// (XML_DOCUMENT for the message element itself);
// where it allows more, both must take it as the schema does. No element
// is ever read "last one wins". It returns how many elements were tried and
// how many of them the schema allows once.
func (f Format) EveryElementTwice(t *testing.T, file, message string) (tried, once int) {
	t.Helper()
	if testing.Short() {
		t.Skip("needs xmllint (libxml2-utils)")
	}
	xmllint, err := exec.LookPath("xmllint")
	if err != nil {
		t.Fatal("xmllint not found: install libxml2-utils (ops/deps.sh does)")
	}
	doc, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	spans := elementSpans(doc)
	files := writeDoubled(t, doc, spans)
	out, _ := exec.Command(xmllint, append([]string{"--noout", "--schema", filepath.Join(XSDDir(), message+".xsd")}, files...)...).CombinedOutput()
	valid := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^(\S+) validates$`).FindAllStringSubmatch(string(out), -1) {
		valid[m[1]] = true
	}
	member := LoadMembers(t)
	for i, s := range spans {
		b, _ := os.ReadFile(files[i])
		_, problems := f.Check(t, b, formats.Limits{Zone: SchemeZone}, member)
		var schema []settlement.Problem
		for _, p := range problems {
			// The message element twice is no one document at all, and
			// says so (XML_DOCUMENT), naming it.
			if p.Code == settlement.CodeSchema || p.Code == settlement.CodeXMLDocument {
				schema = append(schema, p)
			}
		}
		tried++
		if valid[files[i]] {
			if len(schema) > 0 {
				t.Errorf("%s twice: xmllint takes it, we refuse it: %v", s.name, schema)
			}
			continue
		}
		once++
		named := false
		for _, p := range schema {
			named = named || p.Field == s.name || strings.Contains(p.Message, "/"+s.name) || strings.Contains(p.Message, " "+s.name+";")
		}
		if !named {
			t.Errorf("%s twice (at byte %d): xmllint refuses it, our SCHEMA problems %v do not name it (all: %v)", s.name, s.start, schema, problems)
		}
	}
	return tried, once
}

// span is one element of a document: its local name and its bytes.
type span struct {
	name       string
	start, end int64
}

// elementSpans are the document's elements but its root, in the order
// their ends are read.
func elementSpans(doc []byte) []span {
	var spans, open []span
	dec := xml.NewDecoder(bytes.NewReader(doc))
	for {
		before := dec.InputOffset()
		tok, err := dec.Token()
		if err != nil {
			break
		}
		switch e := tok.(type) {
		case xml.StartElement:
			open = append(open, span{name: e.Name.Local, start: before})
		case xml.EndElement:
			s := open[len(open)-1]
			open = open[:len(open)-1]
			s.end = dec.InputOffset()
			if len(open) > 0 { // not the root
				spans = append(spans, s)
			}
		}
	}
	return spans
}

// writeDoubled writes, for each span, the document with that element
// repeated right after itself, and returns the files' names in span order.
func writeDoubled(t *testing.T, doc []byte, spans []span) []string {
	t.Helper()
	dir := t.TempDir()
	var files []string
	for i, s := range spans {
		b := append(append(append([]byte{}, doc[:s.end]...), doc[s.start:s.end]...), doc[s.end:]...)
		name := filepath.Join(dir, fmt.Sprintf("dup%03d.xml", i))
		if err := os.WriteFile(name, b, 0o600); err != nil {
			t.Fatal(err)
		}
		files = append(files, name)
	}
	return files
}
