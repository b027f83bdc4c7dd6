package pacs008_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"

	"settle/adapters/formats"
	"settle/adapters/formats/formatstest"
	"settle/settlement"
)

// envRe cuts a business application header envelope into its AppHdr and
// its Document, which xmllint validates each against its own schema (the
// envelope element has none).
var (
	appHdrRe   = regexp.MustCompile(`(?s)<AppHdr xmlns="urn:iso:std:iso:20022:tech:xsd:(head\.001\.001\.0[23])">.*?</AppHdr>`)
	documentRe = regexp.MustCompile(`(?s)<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pacs\.008\.001\.08">.*?</Document>`)
)

// The test corpus meets two independent readers: ours, and xmllint with the
// official schemas. Wherever the file is a document at all, a SCHEMA
// problem of ours and a refusal by xmllint go together, for the bare
// Document and for each part of an envelope.
func TestCorpusAgreesWithXmllint(t *testing.T) {
	if testing.Short() {
		t.Skip("needs xmllint (libxml2-utils)")
	}
	xmllint, err := exec.LookPath("xmllint")
	if err != nil {
		t.Fatal("xmllint not found: install libxml2-utils (ops/deps.sh does)")
	}
	xsd := filepath.Join("..", "..", "..", "..", "shared", "iso20022", "xsd")
	if _, err := os.Stat(xsd); err != nil {
		t.Fatalf("the official schemas: %v", err)
	}
	valid := func(t *testing.T, schema string, doc []byte) bool {
		f := filepath.Join(t.TempDir(), "doc.xml")
		if err := os.WriteFile(f, doc, 0o600); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(xmllint, "--noout", "--schema", filepath.Join(xsd, schema+".xsd"), f).CombinedOutput()
		return err == nil && bytes.Contains(out, []byte("validates"))
	}
	member := formatstest.LoadMembers(t)
	compared := 0
	for _, dir := range []string{"accepted", "rejected"} {
		for _, file := range format.Files(t, dir) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			_, problems := format.Check(t, data, formats.Limits{Zone: formatstest.SchemeZone}, member)
			ours := false
			for _, p := range problems {
				switch p.Code {
				case settlement.CodeXMLSyntax, settlement.CodeXMLDocument, settlement.CodeFileEmpty, settlement.CodeEncoding,
					settlement.CodeLineTooLong, settlement.CodeFileTooLarge, settlement.CodeAppHdr, settlement.CodeHeaderMissing, settlement.CodeFormat:
					ours = true // no document to compare (or an envelope broken as such)
				}
			}
			if ours {
				continue
			}
			schemaRefused := false
			for _, p := range problems {
				schemaRefused = schemaRefused || p.Code == settlement.CodeSchema
			}
			var lintRefused bool
			if m := appHdrRe.FindSubmatch(data); m != nil {
				doc := documentRe.Find(data)
				if doc == nil {
					t.Errorf("%s: no pacs.008 Document found to give xmllint", file)
					continue
				}
				lintRefused = !valid(t, string(m[1]), append([]byte(xmlDecl), m[0]...)) || !valid(t, "pacs.008.001.08", append([]byte(xmlDecl), doc...))
			} else if bytes.Contains(data, []byte("AppHdr")) {
				t.Errorf("%s: an AppHdr the test could not cut out", file)
				continue
			} else {
				lintRefused = !valid(t, "pacs.008.001.08", data) // the file as it stands
			}
			if schemaRefused != lintRefused {
				t.Errorf("%s: our SCHEMA verdict %v, xmllint refuses %v; problems %v", file, schemaRefused, lintRefused, problems)
			}
			compared++
		}
	}
	if compared < 40 {
		t.Fatalf("only %d files compared: the corpus is too small to mean anything", compared)
	}
	t.Logf("%d corpus files: our schema verdict agrees with xmllint's", compared)
}

const xmlDecl = `<?xml version="1.0" encoding="UTF-8"?>` + "\n"
