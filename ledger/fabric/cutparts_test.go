package fabric

import (
	"bytes"
	"compress/flate"
	"fmt"
	"io"
	"math/rand/v2"
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

// TestPartsOfSendsAtMostPartBytes: a compressible file goes in fewer parts
// than its bytes over partBytes, each sent compressed in at most partBytes
// and inflating to its part, which ends at a record; an incompressible one
// goes as it is, cut every partBytes; both join to the file, and the cut is
// the same every time (a resumed upload sends what the ledger expects).
func TestPartsOfSendsAtMostPartBytes(t *testing.T) {
	var csv bytes.Buffer
	csv.WriteString("H,F1,AAAAKRSE,2026-11-24,2026-11-24T17:45:00+09:00\n")
	for i := range 20000 {
		fmt.Fprintf(&csv, "P,F1-%06d,AAAAKRSE,BBBBKRSE,%d,KRW\n", i, 1000+i%977)
	}
	csv.WriteString("T,20000,0\n")
	noise := make([]byte, 600<<10)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range noise {
		noise[i] = byte(rng.Uint32())
	}
	for _, c := range []struct {
		format string
		body   []byte
		packed bool
	}{{"csv", csv.Bytes(), true}, {"pacs.008", noise, false}} {
		const partBytes = 64 << 10
		parts, err := PartsOf(c.format, c.body, partBytes)
		if err != nil {
			t.Fatal(err)
		}
		var joined []byte
		for i, p := range parts {
			if len(p.Sent) > partBytes || len(p.Raw) > PartRawMax {
				t.Fatalf("%s part %d: %d bytes sent for %d", c.format, i, len(p.Sent), len(p.Raw))
			}
			if (p.Encoding == "deflate") != c.packed {
				t.Fatalf("%s part %d: encoding %q", c.format, i, p.Encoding)
			}
			if p.Encoding == "deflate" {
				back, err := io.ReadAll(flate.NewReader(bytes.NewReader(p.Sent)))
				if err != nil || !bytes.Equal(back, p.Raw) {
					t.Fatalf("%s part %d does not inflate to its bytes: %v", c.format, i, err)
				}
			} else if !bytes.Equal(p.Sent, p.Raw) {
				t.Fatalf("%s part %d: sent bytes are not the part", c.format, i)
			}
			if c.format == "csv" && i < len(parts)-1 && !bytes.HasSuffix(p.Raw, []byte("\n")) {
				t.Fatalf("csv part %d ends inside a record", i)
			}
			joined = append(joined, p.Raw...)
		}
		if !bytes.Equal(joined, c.body) {
			t.Fatalf("%s: the parts do not join to the file", c.format)
		}
		if c.packed && len(parts) >= len(c.body)/partBytes {
			t.Fatalf("csv of %d bytes in %d parts: compression saved no part", len(c.body), len(parts))
		}
		again, _ := PartsOf(c.format, c.body, partBytes)
		for i := range again {
			if !bytes.Equal(again[i].Sent, parts[i].Sent) {
				t.Fatalf("%s: the cut is not the same twice", c.format)
			}
		}
	}
}
