package formatstest

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"

	"settle/formats"
	"settle/settlement"
)

var appHdrRe = regexp.MustCompile(`(?s)<AppHdr xmlns="urn:iso:std:iso:20022:tech:xsd:(head\.001\.001\.0[23])">.*?</AppHdr>`)

const xmlDecl = `<?xml version="1.0" encoding="UTF-8"?>` + "\n"

// AgreesWithXmllint gives the format's test corpus to two independent
// readers: ours, and xmllint with the official schema of message (e.g.
// "pacs.008.001.08", in ../shared/iso20022/xsd). Wherever a file is a
// document at all, a SCHEMA problem of ours and a refusal by xmllint go
// together, for a bare Document and for each part of a business
// application header envelope (the envelope element has no schema: its
// AppHdr and its Document are cut out and validated each on its own).
// At least min files must be compared.
func (f Format) AgreesWithXmllint(t *testing.T, message string, min int) {
	if testing.Short() {
		t.Skip("needs xmllint (libxml2-utils)")
	}
	xmllint, err := exec.LookPath("xmllint")
	if err != nil {
		t.Fatal("xmllint not found: install libxml2-utils (ops/deps.sh does)")
	}
	xsd := filepath.Join("..", "..", "..", "shared", "iso20022", "xsd")
	if _, err := os.Stat(xsd); err != nil {
		t.Fatalf("the official schemas: %v", err)
	}
	documentRe := regexp.MustCompile(`(?s)<Document xmlns="urn:iso:std:iso:20022:tech:xsd:` + regexp.QuoteMeta(message) + `">.*?</Document>`)
	valid := func(schema string, doc []byte) bool {
		file := filepath.Join(t.TempDir(), "doc.xml")
		if err := os.WriteFile(file, doc, 0o600); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(xmllint, "--noout", "--schema", filepath.Join(xsd, schema+".xsd"), file).CombinedOutput()
		return err == nil && bytes.Contains(out, []byte("validates"))
	}
	member := LoadMembers(t)
	compared := 0
	for _, dir := range []string{"accepted", "rejected"} {
		for _, file := range f.Files(t, dir) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			_, problems := f.Check(t, data, formats.Limits{Zone: SchemeZone}, member)
			noDocument, schemaRefused := false, false
			for _, p := range problems {
				switch p.Code {
				case settlement.CodeXMLSyntax, settlement.CodeXMLDocument, settlement.CodeFileEmpty, settlement.CodeEncoding,
					settlement.CodeLineTooLong, settlement.CodeFileTooLarge, settlement.CodeAppHdr, settlement.CodeHeaderMissing,
					settlement.CodeFormat:
					noDocument = true // nothing to compare (or an envelope broken as such)
				case settlement.CodeSchema:
					schemaRefused = true
				}
			}
			if noDocument {
				continue
			}
			var lintRefused bool
			if m := appHdrRe.FindSubmatch(data); m != nil {
				doc := documentRe.Find(data)
				if doc == nil {
					t.Errorf("%s: no %s Document found to give xmllint", file, message)
					continue
				}
				lintRefused = !valid(string(m[1]), append([]byte(xmlDecl), m[0]...)) || !valid(message, append([]byte(xmlDecl), doc...))
			} else if bytes.Contains(data, []byte("AppHdr")) {
				t.Errorf("%s: an AppHdr the test could not cut out", file)
				continue
			} else {
				lintRefused = !valid(message, data) // the file as it stands
			}
			if schemaRefused != lintRefused {
				t.Errorf("%s: our SCHEMA verdict %v, xmllint refuses %v; problems %v", file, schemaRefused, lintRefused, problems)
			}
			compared++
		}
	}
	if compared < min {
		t.Fatalf("only %d files compared: the corpus is too small to mean anything", compared)
	}
	t.Logf("%d corpus files: our schema verdict agrees with xmllint's", compared)
}
