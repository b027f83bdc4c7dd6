package isoschema_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"settle/formats/formatstest"
	"settle/formats/gen"
	"settle/formats/isoschema"
	"settle/settlement"
)

func xsdDir() string {
	_, here, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(here), "..", "..", "..", "shared", "iso20022", "xsd")
}

// check runs the checker over a whole document (as every writer's tests do).
func check(t testing.TB, s *isoschema.Schema, doc []byte) []isoschema.Violation {
	t.Helper()
	return formatstest.SchemaViolations(t, s.Name, bytes.NewReader(doc))
}

// TestTablesMatchTheOfficialSchemas: the generated tables are those of the
// XSD files in shared/ (same sha256), and regenerating them gives the same
// file.
func TestTablesMatchTheOfficialSchemas(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(xsdDir(), "*.xsd"))
	if len(files) == 0 {
		t.Fatalf("no XSD files in %s", xsdDir())
	}
	for _, f := range files {
		b, _ := os.ReadFile(f)
		sum := sha256.Sum256(b)
		msg := strings.TrimSuffix(filepath.Base(f), ".xsd")
		s, ok := isoschema.Lookup(msg)
		if !ok {
			t.Errorf("%s: no tables", msg)
			continue
		}
		if s.SHA256 != hex.EncodeToString(sum[:]) {
			t.Errorf("%s: tables from sha256 %s, the file is %x: run go generate", msg, s.SHA256, sum)
		}
	}
	if testing.Short() {
		return
	}
	out, err := exec.Command("go", append([]string{"run", "./cmd/xsdgen"}, files...)...).Output()
	if err != nil {
		t.Fatal(err)
	}
	have, _ := os.ReadFile("tables.go")
	if !bytes.Equal(out, have) {
		t.Fatal("tables.go is not what xsdgen writes from the schemas: regenerate it")
	}
}

func pacs008(t testing.TB) []byte {
	t.Helper()
	bics, _ := gen.Banks(3)
	ps := gen.DayPayments(gen.Config{Banks: 3, Payments: 12, Date: "2026-11-24", Seed: 5}, bics, 0)
	var b bytes.Buffer
	if err := gen.WriteXML(&b, "F-1", bics[0], settlement.Date("2026-11-24"), time.Date(2026, 11, 24, 17, 0, 0, 0, time.UTC), ps); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// mutations of a valid pacs.008 that the schema refuses, each with the
// path the checker must name.
var mutations = []struct {
	name, from, to, path string
}{
	{"duplicate amount", `</IntrBkSttlmAmt>`, `</IntrBkSttlmAmt><IntrBkSttlmAmt Ccy="KRW">1</IntrBkSttlmAmt>`, "IntrBkSttlmAmt[2]"},
	{"duplicate creditor agent", `</CdtrAgt>`, `</CdtrAgt><CdtrAgt><FinInstnId><BICFI>SHBKKRSE</BICFI></FinInstnId></CdtrAgt>`, "CdtrAgt[2]"},
	{"out of order", `<ChrgBr>SLEV</ChrgBr>`, ``, "ChrgBr"},
	{"missing debtor", `<Dbtr><Nm>Customer of SHBKKRSE</Nm></Dbtr>`, ``, "Dbtr"},
	{"foreign namespace", `<ChrgBr>SLEV</ChrgBr>`, `<ChrgBr xmlns="urn:other">SLEV</ChrgBr>`, "ChrgBr"},
	{"bad currency", `Ccy="`, `Ccy="x`, "@Ccy"},
	{"too many digits", `<NbOfTxs>`, `<NbOfTxs>1234567890123456`, "NbOfTxs"},
	{"not a date", `<IntrBkSttlmDt>2026-11-24`, `<IntrBkSttlmDt>2026-02-30`, "IntrBkSttlmDt"},
	{"unknown code", `<ChrgBr>SLEV`, `<ChrgBr>FREE`, "ChrgBr"},
	{"text in a group", `<GrpHdr>`, `<GrpHdr>hidden`, "GrpHdr"},
	{"unknown element", `<ChrgBr>`, `<Secret>x</Secret><ChrgBr>`, "Secret"},
	{"unknown attribute", `<ChrgBr>`, `<ChrgBr amount="1">`, "@amount"},
	{"element in a value", `<ChrgBr>SLEV`, `<ChrgBr><b/>SLEV`, "b"},
	{"empty id", `<MsgId>F-1</MsgId>`, `<MsgId></MsgId>`, "MsgId"},
	{"long id", `<MsgId>F-1</MsgId>`, `<MsgId>` + strings.Repeat("9", 36) + `</MsgId>`, "MsgId"},
	{"wrong root", `<Document xmlns=`, `<Documents xmlns=`, "Documents"},
	{"settlement method missing", `<SttlmInf><SttlmMtd>CLRG</SttlmMtd></SttlmInf>`, `<SttlmInf></SttlmInf>`, "SttlmMtd"},
	{"too many decimals", `<CtrlSum>`, `<CtrlSum>0.000000000000000001`, "CtrlSum"},
	{"a DOCTYPE", `<?xml version="1.0" encoding="UTF-8"?>`, `<?xml version="1.0" encoding="UTF-8"?><!DOCTYPE Document>`, "/"},
}

// TestCheckerRefusesWhatTheSchemaRefuses: every mutation is a violation
// naming the element's path; the valid file has none.
func TestCheckerRefusesWhatTheSchemaRefuses(t *testing.T) {
	s, ok := isoschema.Lookup("pacs.008.001.08")
	if !ok {
		t.Fatal("no pacs.008 tables")
	}
	doc := pacs008(t)
	if v := check(t, s, doc); len(v) != 0 {
		t.Fatalf("the generated file: %v", v)
	}
	for _, m := range mutations {
		bad := bytes.Replace(doc, []byte(m.from), []byte(m.to), 1)
		if bytes.Equal(bad, doc) {
			t.Fatalf("%s: the mutation changed nothing", m.name)
		}
		v := check(t, s, bad)
		if len(v) == 0 {
			t.Errorf("%s: accepted", m.name)
			continue
		}
		if !strings.Contains(v[0].Path, m.path) || v[0].Line < 1 && m.path != "/" {
			t.Errorf("%s: %v; want the path to name %s, with a line", m.name, v, m.path)
		}
	}
}

// TestCheckerAgreesWithXmllint: the checker and xmllint --schema, the
// independent oracle, give the same verdict on the generated files of
// every kind we write and read, on each hand-made mutation, and on
// hundreds of random ones (elements dropped, repeated, swapped, values
// replaced). The DOCTYPE mutation is left out: refusing it is stricter on
// purpose.
func TestCheckerAgreesWithXmllint(t *testing.T) {
	if testing.Short() {
		t.Skip("needs xmllint (libxml2-utils)")
	}
	xmllint, err := exec.LookPath("xmllint")
	if err != nil {
		t.Fatal("xmllint not found: install libxml2-utils (ops/deps.sh does)")
	}
	s, _ := isoschema.Lookup("pacs.008.001.08")
	doc := pacs008(t)
	cases := map[string][]byte{"valid": doc}
	for _, m := range mutations {
		if m.name != "a DOCTYPE" {
			cases[m.name] = bytes.Replace(doc, []byte(m.from), []byte(m.to), 1)
		}
	}
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 400; i++ {
		cases[fmt.Sprintf("random %03d", i)] = mutate(r, doc)
	}
	dir := t.TempDir()
	names := map[string]string{}
	var files []string
	for name, b := range cases {
		f := filepath.Join(dir, fmt.Sprintf("c%03d.xml", len(files)))
		os.WriteFile(f, b, 0o600)
		names[f] = name
		files = append(files, f)
	}
	out, _ := exec.Command(xmllint, append([]string{"--noout", "--schema", filepath.Join(xsdDir(), "pacs.008.001.08.xsd")}, files...)...).CombinedOutput()
	valid := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^(\S+) validates$`).FindAllStringSubmatch(string(out), -1) {
		valid[m[1]] = true
	}
	agree, invalid := 0, 0
	for _, f := range files {
		ours := check(t, s, cases[names[f]])
		if (len(ours) == 0) != valid[f] {
			t.Errorf("%s: xmllint valid=%v, ours %v\n%s", names[f], valid[f], ours, cases[names[f]])
			continue
		}
		agree++
		if !valid[f] {
			invalid++
		}
	}
	t.Logf("%d of %d verdicts agree (%d invalid)", agree, len(files), invalid)
	if invalid < len(files)/4 {
		t.Fatalf("only %d of %d random documents were invalid: the mutations are too weak to compare anything", invalid, len(files))
	}
}

var elemRe = regexp.MustCompile(`(?s)<([A-Za-z]+)( [^>]*)?>[^<]*</([A-Za-z]+)>`)
var textRe = regexp.MustCompile(`>([^<>]+)<`)

// mutate makes one random change to an element or a value.
func mutate(r *rand.Rand, doc []byte) []byte {
	leaves := elemRe.FindAllIndex(doc, -1)
	texts := textRe.FindAllSubmatchIndex(doc, -1)
	switch r.IntN(5) {
	case 0: // drop a leaf
		l := leaves[r.IntN(len(leaves))]
		return cat(doc[:l[0]], doc[l[1]:])
	case 1: // repeat a leaf
		l := leaves[r.IntN(len(leaves))]
		return cat(doc[:l[1]], doc[l[0]:l[1]], doc[l[1]:])
	case 2: // swap a leaf with the one after it
		i := r.IntN(len(leaves) - 1)
		a, b := leaves[i], leaves[i+1]
		return cat(doc[:a[0]], doc[b[0]:b[1]], doc[a[1]:b[0]], doc[a[0]:a[1]], doc[b[1]:])
	default: // replace a value
		tx := texts[r.IntN(len(texts))]
		vals := []string{"", "X", "KRW", "0", "-1", "1.5", "12345678901234567890", "2026-13-01", "2026-11-24T25:00:00", "SLEV", "CLRG",
			"SHBKKRSE", "shbkkrse", " 12 ", "1e5", "true", strings.Repeat("a", 36), strings.Repeat("b", 141), "2026-11-24", "2026-11-24T17:00:00Z", "INDA"}
		return cat(doc[:tx[2]], []byte(vals[r.IntN(len(vals))]), doc[tx[3]:])
	}
}

func cat(parts ...[]byte) []byte {
	var b []byte
	for _, p := range parts {
		b = append(b, p...)
	}
	return b
}

// BenchmarkCheck: the checker's cost over a pacs.008 of 10,000
// transactions, beside decoding the same tokens alone.
func BenchmarkCheck(b *testing.B) {
	bics, _ := gen.Banks(3)
	ps := gen.DayPayments(gen.Config{Banks: 3, Payments: 30000, Date: "2026-11-24", Seed: 5}, bics, 0)
	var buf bytes.Buffer
	gen.WriteXML(&buf, "F-1", bics[0], "2026-11-24", time.Date(2026, 11, 24, 17, 0, 0, 0, time.UTC), ps)
	doc := buf.Bytes()
	s, _ := isoschema.Lookup("pacs.008.001.08")
	for _, withCheck := range []bool{false, true} {
		b.Run(fmt.Sprintf("check=%v", withCheck), func(b *testing.B) {
			b.SetBytes(int64(len(doc)))
			for b.Loop() {
				dec := xml.NewDecoder(bytes.NewReader(doc))
				c := isoschema.NewChecker(s, nil)
				for {
					tok, err := dec.Token()
					if err != nil {
						break
					}
					if withCheck {
						c.Token(tok)
					}
				}
				if withCheck && len(c.Violations()) != 0 {
					b.Fatal(c.Violations())
				}
			}
		})
	}
}
