package fabric

import (
	"bytes"
	"strings"
	"testing"
)

// TestCutPartsAtRecordBoundaries: the parts join to the file, each but the
// last ends with a line break outside quotes (what the chaincode accepts), a
// quoted field's line break is never a cut, XML is whole, and a record longer
// than a part is an error rather than a cut inside it.
func TestCutPartsAtRecordBoundaries(t *testing.T) {
	body := []byte("H,F1,AAAAKRSE,2026-11-24,2026-11-24T17:45:00+09:00\n" +
		"P,1,AAAAKRSE,BBBBKRSE,10,KRW,\"line one\nline two\"\n" +
		strings.Repeat("P,2,AAAAKRSE,BBBBKRSE,10,KRW\n", 20) + "T,21,210\n")
	for size := 60; size <= len(body)+1; size += 7 {
		parts, err := CutParts("csv", body, size)
		if err != nil {
			t.Fatalf("size %d: %v", size, err)
		}
		if !bytes.Equal(bytes.Join(parts, nil), body) {
			t.Fatalf("size %d: parts do not join to the file", size)
		}
		for i, p := range parts {
			if len(p) > size {
				t.Fatalf("size %d: part %d has %d bytes", size, i, len(p))
			}
			if i < len(parts)-1 && (!bytes.HasSuffix(p, []byte("\n")) || bytes.Count(bytes.Join(parts[:i+1], nil), []byte(`"`))%2 != 0) {
				t.Fatalf("size %d: part %d ends inside a record: %q", size, i, p[max(0, len(p)-20):])
			}
		}
	}
	if _, err := CutParts("csv", body, 30); err == nil {
		t.Fatal("a record longer than a part must be an error")
	}
	// ISO 20022: cut every partBytes bytes, wherever that falls; the parts
	// join to the file.
	xml := []byte("<Document><!-- a <comment> --><x><![CDATA[<y/>]]></x></Document>\n")
	parts, err := CutParts("pacs.008", xml, 5)
	if err != nil || len(parts) != (len(xml)+4)/5 || string(bytes.Join(parts, nil)) != string(xml) {
		t.Fatalf("pacs.008 in parts of 5: %q, %v", parts, err)
	}
	for i, p := range parts[:len(parts)-1] {
		if len(p) != 5 {
			t.Fatalf("part %d is %d bytes, want 5", i, len(p))
		}
	}
	if _, err := CutParts("csv", make([]byte, FileBytesMax+1), PartBytesMax); err == nil {
		t.Fatal("a file over FileBytesMax must be an error")
	}
}
