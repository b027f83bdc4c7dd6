package pacs008_test

import (
	"fmt"
	"strings"
	"testing"

	"settle/formats"
	"settle/formats/formatstest"
	"settle/formats/pacs008"
	"settle/settlement"
)

func xmlDoc(n int, ustrd string) string {
	var b strings.Builder
	fmt.Fprintf(&b, `<?xml version="1.0"?><Document xmlns="%s"><FIToFICstmrCdtTrf><GrpHdr><MsgId>F1</MsgId>`+
		`<CreDtTm>2026-11-24T17:45:00Z</CreDtTm><NbOfTxs>%d</NbOfTxs><CtrlSum>%d</CtrlSum><IntrBkSttlmDt>2026-11-24</IntrBkSttlmDt>`+
		`<SttlmInf><SttlmMtd>CLRG</SttlmMtd></SttlmInf><InstgAgt><FinInstnId><BICFI>SHBKKRSEXXX</BICFI></FinInstnId></InstgAgt></GrpHdr>`, pacs008.Namespace, n, n)
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, `<CdtTrfTxInf><PmtId><EndToEndId>SH-%d</EndToEndId></PmtId><IntrBkSttlmAmt Ccy="KRW">1</IntrBkSttlmAmt>`+
			`<ChrgBr>SLEV</ChrgBr><Dbtr><Nm>D</Nm></Dbtr><DbtrAgt><FinInstnId><BICFI>SHBKKRSE</BICFI></FinInstnId></DbtrAgt>`+
			`<CdtrAgt><FinInstnId><BICFI>CZNBKRSEXXX</BICFI></FinInstnId></CdtrAgt><Cdtr><Nm>C</Nm></Cdtr>`, i)
		if ustrd != "" {
			fmt.Fprintf(&b, `<RmtInf><Ustrd>%s</Ustrd></RmtInf>`, ustrd)
		}
		b.WriteString(`</CdtTrfTxInf>`)
	}
	b.WriteString(`</FIToFICstmrCdtTrf></Document>`)
	return b.String()
}

func TestRecordValues(t *testing.T) {
	rec := &formatstest.Recorder{}
	if err := pacs008.Parse(strings.NewReader(xmlDoc(2, "a &amp; b")), formats.Limits{}, rec); err != nil {
		t.Fatal(err)
	}
	if len(rec.Problems) != 0 || len(rec.Headers) != 1 || len(rec.Entries) != 2 || len(rec.Trailers) != 1 {
		t.Fatalf("%+v", rec)
	}
	h := rec.Headers[0]
	if h.FileID != "F1" || h.Sender != "SHBKKRSE" || h.BusinessDate != "2026-11-24" || h.Line != 0 {
		t.Errorf("header %+v", h)
	}
	for i, e := range rec.Entries {
		if e.Line != i+1 || e.ID != fmt.Sprint("SH-", i+1) || e.Debtor != "SHBKKRSE" || e.Creditor != "CZNBKRSE" ||
			e.Currency.Code() != "KRW" || e.Amount.String() != "1" || e.Remittance != "a & b" || e.Kind != settlement.KindPayment || !rec.Okays[i] {
			t.Errorf("entry %d: %+v", i, e)
		}
	}
	if tr := rec.Trailers[0]; tr.Count != 2 || tr.ControlSum.String() != "2" {
		t.Errorf("trailer %+v", tr)
	}
}

func TestFileBytesMax(t *testing.T) {
	doc := xmlDoc(3, "")
	_, ps := check(t, []byte(doc), formats.Limits{FileBytesMax: int64(len(doc))}, nil)
	if len(ps) != 0 {
		t.Errorf("exactly FileBytesMax: %v", formatstest.CodesOf(ps))
	}
	_, ps = check(t, []byte(doc), formats.Limits{FileBytesMax: int64(len(doc) - 1)}, nil)
	if len(ps) != 1 || !formatstest.Has(ps, 0, settlement.CodeFileTooLarge) {
		t.Errorf("one byte over: want only FILE_TOO_LARGE, got %v", formatstest.CodesOf(ps))
	}
}

func TestRecordsMax(t *testing.T) {
	_, ps := check(t, []byte(xmlDoc(3, "")), formats.Limits{RecordsMax: 3}, nil)
	if len(ps) != 0 {
		t.Errorf("exactly RecordsMax: %v", formatstest.CodesOf(ps))
	}
	_, ps = check(t, []byte(xmlDoc(4, "")), formats.Limits{RecordsMax: 3}, nil)
	if !formatstest.Has(ps, 4, settlement.CodeTooManyRecords) {
		t.Errorf("want TOO_MANY_RECORDS at 4, got %v", formatstest.CodesOf(ps))
	}
}

func TestProblemsMax(t *testing.T) {
	doc := strings.ReplaceAll(xmlDoc(20, ""), `Ccy="KRW">1<`, `Ccy="KRW">0<`)
	_, ps := check(t, []byte(doc), formats.Limits{ProblemsMax: 5}, nil)
	if len(ps) != 6 || ps[5].Code != settlement.CodeTooManyErrors {
		t.Fatalf("want 5 problems then TOO_MANY_ERRORS, got %v", formatstest.CodesOf(ps))
	}
	for i, p := range ps[:5] {
		if p.Line != i+1 || p.Code != settlement.CodeAmountZero {
			t.Errorf("problem %d: %v", i, p)
		}
	}
}

// TestDeepNesting: nesting far deeper than any pacs.008 never overflows a
// stack. Inside SplmtryData/Envlp (an xs:any, not read) it leaves the
// verdict alone; in an element the schema does not have it is a SCHEMA
// problem; nesting never closed is a syntax error.
func TestDeepNesting(t *testing.T) {
	deep := strings.Repeat("<a>", 100_000) + strings.Repeat("</a>", 100_000)
	for name, doc := range map[string]string{
		"in a transaction":      strings.Replace(xmlDoc(1, ""), "<DbtrAgt>", "<X>"+deep+"</X><DbtrAgt>", 1),
		"in the group header":   strings.Replace(xmlDoc(1, ""), "<MsgId>", "<X>"+deep+"</X><MsgId>", 1),
		"supplementary data":    strings.Replace(xmlDoc(1, ""), "</FIToFICstmrCdtTrf>", "<SplmtryData><Envlp>"+deep+"</Envlp></SplmtryData></FIToFICstmrCdtTrf>", 1),
		"never closed":          strings.Replace(xmlDoc(1, ""), "<DbtrAgt>", strings.Repeat("<a>", 100_000), 1),
		"in the root, unclosed": `<Document xmlns="` + pacs008.Namespace + `">` + strings.Repeat("<a>", 100_000),
	} {
		t.Run(name, func(t *testing.T) {
			s, ps := check(t, []byte(doc), formats.Limits{}, nil)
			switch {
			case strings.Contains(name, "closed"):
				if len(ps) == 0 {
					t.Errorf("unclosed nesting: %v", formatstest.CodesOf(ps))
				}
			case name == "supplementary data":
				if len(ps) != 0 || s.Count() != 1 {
					t.Errorf("nesting in Envlp: %d entries, %v", s.Count(), formatstest.CodesOf(ps))
				}
			default:
				if len(ps) == 0 {
					t.Fatal("an element the schema does not have was accepted")
				}
				for _, p := range ps {
					if p.Code != settlement.CodeSchema {
						t.Errorf("%v: want SCHEMA only", p)
					}
				}
			}
		})
	}
}

// TestHugeText: one element's text far beyond any field is refused by the
// LineBytesMax bound (4 KiB by default) before it is buffered whole; one
// within the bound but beyond its field is refused by the field's rule.
func TestHugeText(t *testing.T) {
	huge := strings.Repeat("x", 1<<20)
	doc := xmlDoc(1, huge)
	_, ps := check(t, []byte(doc), formats.Limits{}, nil)
	if !formatstest.Has(ps, 1, settlement.CodeLineTooLong) {
		t.Errorf("1 MiB Ustrd: %v", formatstest.CodesOf(ps))
	}
	doc = strings.Replace(xmlDoc(1, ""), "<MsgId>F1</MsgId>", "<MsgId>"+huge+"</MsgId>", 1)
	_, ps = check(t, []byte(doc), formats.Limits{}, nil)
	if !formatstest.Has(ps, 0, settlement.CodeLineTooLong) {
		t.Errorf("1 MiB MsgId: %v", formatstest.CodesOf(ps))
	}
	long := strings.Repeat("x", 1000) // under 4 KiB, over Max140Text
	_, ps = check(t, []byte(xmlDoc(1, long)), formats.Limits{}, nil)
	if !formatstest.Has(ps, 1, settlement.CodeRemittance) {
		t.Errorf("1000-byte Ustrd: %v", formatstest.CodesOf(ps))
	}
	doc = strings.Replace(xmlDoc(1, ""), "<MsgId>F1</MsgId>", "<MsgId>"+long+"</MsgId>", 1)
	_, ps = check(t, []byte(doc), formats.Limits{}, nil)
	if !formatstest.Has(ps, 0, settlement.CodeFileID) {
		t.Errorf("1000-byte MsgId: %v", formatstest.CodesOf(ps))
	}
}

// TestLineBytesMaxBoundsElementText: formats.Limits documents LineBytesMax
// as "one CSV record, or one XML element's text"; an element's text over
// it must be refused without being held whole.
func TestLineBytesMaxBoundsElementText(t *testing.T) {
	doc := xmlDoc(1, strings.Repeat("y", 100)) // 100 bytes: a valid Ustrd
	_, ps := check(t, []byte(doc), formats.Limits{LineBytesMax: 64}, nil)
	if !formatstest.Has(ps, 1, settlement.CodeLineTooLong) {
		t.Errorf("100-byte Ustrd with LineBytesMax 64: %v, want LINE_TOO_LONG at 1", formatstest.CodesOf(ps))
	}
}
