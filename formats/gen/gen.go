// Package gen writes realistic, signed days of payment files, for demos,
// benchmarks and tests: member banks with their keys, caps, and one file
// per bank in either format. The same seed gives the same bytes.
package gen

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"settle/settlement"
)

// Well-known member banks first (Korean BICs, as in the contract's
// examples), then synthetic ones.
var knownBanks = []string{"SHBKKRSE", "CZNBKRSE", "HVBKKRSE", "KOEXKRSE", "NACFKRSE",
	"IBKOKRSE", "KODBKRSE", "SCBLKRSE", "CITIKRSX", "KFBKKRSE"}

// BanksMax bounds the generated consortium.
var BanksMax = len(knownBanks) + 26*26

// Banks returns the first n member BICs.
func Banks(n int) ([]settlement.BIC, error) {
	if n < 2 || n > BanksMax {
		return nil, fmt.Errorf("banks must be 2..%d, got %d", BanksMax, n)
	}
	out := make([]settlement.BIC, 0, n)
	for i := 0; i < n; i++ {
		if i < len(knownBanks) {
			out = append(out, settlement.MustBIC(knownBanks[i]))
			continue
		}
		j := i - len(knownBanks)
		out = append(out, settlement.MustBIC(fmt.Sprintf("XB%c%cKRSE", 'A'+j/26, 'A'+j%26)))
	}
	return out, nil
}

// Config describes a day.
type Config struct {
	Banks    int
	Payments int // across all banks
	Date     settlement.Date
	Seed     uint64
	XMLEvery int // every XMLEvery-th bank sends pacs.008 instead of CSV; 0: none
	// AppHdrEvery: every AppHdrEvery-th XML file comes in a business
	// application header envelope (head.001.001.02); 0: none.
	AppHdrEvery int
	// ReverseDate and ReversalEvery: each bank also sends a pacs.007 file
	// reversing every ReversalEvery-th payment it sent on ReverseDate (an
	// earlier day generated with the same seed and banks, so the originals
	// are settled by then); 0: no reversals.
	ReverseDate   settlement.Date
	ReversalEvery int
	// ReversePayments is the earlier day's Payments (0: the same as this
	// day's): the originals are that day's, recomputed from the seed.
	ReversePayments int
	// KeysFrom: sign with the private keys an earlier Day wrote under
	// KeysFrom/private (so a second day is signed by the banks the first
	// registered); "": new keys.
	KeysFrom string
	// FilePaymentsMax: a bank's payments go in files of at most this many
	// (ids -001, -002, ...), as a bank splits a day the ledger takes in
	// files of a bounded size; 0: one file a bank.
	FilePaymentsMax int
}

// Bank is a generated member with its signing key.
type Bank struct {
	BIC     settlement.BIC
	Private crypto.Signer
}

// Keys makes one key per bank, alternating Ed25519 and ECDSA P-256 so both
// verification paths are exercised. Keys come from crypto/rand: a demo's
// keys must not be guessable from its seed.
func Keys(bics []settlement.BIC) ([]Bank, error) {
	out := make([]Bank, len(bics))
	for i, b := range bics {
		var k crypto.Signer
		var err error
		if i%2 == 0 {
			_, k, err = ed25519.GenerateKey(rand.Reader)
		} else {
			k, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		}
		if err != nil {
			return nil, err
		}
		out[i] = Bank{BIC: b, Private: k}
	}
	return out, nil
}

// LoadKeys reads the private keys an earlier Day wrote, dir/private/<BIC>.key.
func LoadKeys(bics []settlement.BIC, dir string) ([]Bank, error) {
	out := make([]Bank, len(bics))
	for i, b := range bics {
		raw, err := os.ReadFile(filepath.Join(dir, "private", string(b)+".key"))
		if err != nil {
			return nil, err
		}
		blk, _ := pem.Decode(raw)
		if blk == nil || blk.Type != "PRIVATE KEY" {
			return nil, fmt.Errorf("%s: no PEM PRIVATE KEY", b)
		}
		k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", b, err)
		}
		signer, ok := k.(crypto.Signer)
		if !ok {
			return nil, fmt.Errorf("%s: a %T cannot sign", b, k)
		}
		if e, ok := signer.(ed25519.PrivateKey); ok {
			signer = e
		}
		out[i] = Bank{BIC: b, Private: signer}
	}
	return out, nil
}

// Sign makes the detached .sig content for data, as the contract says.
func Sign(k crypto.Signer, data []byte) ([]byte, error) {
	var sig []byte
	var err error
	switch k := k.(type) {
	case ed25519.PrivateKey:
		sig = ed25519.Sign(k, data)
	case *ecdsa.PrivateKey:
		d := sha256.Sum256(data)
		sig, err = ecdsa.SignASN1(rand.Reader, k, d[:])
	default:
		err = fmt.Errorf("unsupported key %T", k)
	}
	if err != nil {
		return nil, err
	}
	return []byte(base64.StdEncoding.EncodeToString(sig) + "\n"), nil
}

// PublicPEM and PrivatePEM encode a bank's keys.
func PublicPEM(k crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(k.Public())
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), nil
}

func PrivatePEM(k crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// Payment is a generated payment, before it is written in a format.
type Payment struct {
	ID         string
	Debtor     settlement.BIC
	Creditor   settlement.BIC
	Amount     string
	Currency   string
	Remittance string
}

// currencyMix: mostly won, some dollars, a little yen (0 decimals) and
// Kuwaiti dinar (3 decimals) so every scale is exercised.
var currencyMix = []struct {
	code   string
	weight int
	minor  int
	maxExp int // amounts up to 10^maxExp major units
}{{"KRW", 80, 0, 9}, {"USD", 14, 2, 6}, {"JPY", 4, 0, 8}, {"KWD", 2, 3, 5}}

// DayPayments generates the payments bank i of bics sends on a day: the
// same config always gives the same payments.
func DayPayments(cfg Config, bics []settlement.BIC, i int) []Payment {
	n := cfg.Payments / len(bics)
	if i < cfg.Payments%len(bics) {
		n++
	}
	r := mrand.New(mrand.NewPCG(cfg.Seed, uint64(i)<<32|uint64(dateNum(cfg.Date))))
	prefix := string(bics[i][:4]) + "-" + strings.ReplaceAll(string(cfg.Date), "-", "") + "-"
	out := make([]Payment, n)
	for j := range out {
		to := r.IntN(len(bics) - 1)
		if to >= i {
			to++
		}
		w := r.IntN(100)
		c := currencyMix[0]
		for _, m := range currencyMix {
			if w < m.weight {
				c = m
				break
			}
			w -= m.weight
		}
		p := Payment{ID: prefix + fmt.Sprintf("%08d", j+1), Debtor: bics[i], Creditor: bics[to], Currency: c.code}
		p.Amount = amount(r, c.minor, c.maxExp)
		if r.IntN(10) < 7 {
			p.Remittance = fmt.Sprintf("INV %s/%06d %s ref CUST%08d", cfg.Date, r.IntN(1000000), purposes[r.IntN(len(purposes))], r.IntN(100000000))
		}
		out[j] = p
	}
	return out
}

var purposes = []string{"payroll November batch", "supplier invoice settlement", "card scheme net settlement",
	"trade finance LC drawing", "securities DvP cash leg", "interbank money market loan", "customer credit transfer"}

// amount draws a log-uniform amount with the currency's exact decimals.
func amount(r *mrand.Rand, minor, maxExp int) string {
	digits := 1 + r.IntN(maxExp)
	v := uint64(1 + r.Int64N(pow10(digits)-1))
	s := strconv.FormatUint(v, 10)
	if minor == 0 {
		return s
	}
	frac := fmt.Sprintf("%0*d", minor, r.IntN(int(pow10(minor))))
	return s + "." + frac
}

func pow10(n int) int64 {
	v := int64(1)
	for ; n > 0; n-- {
		v *= 10
	}
	return v
}

func dateNum(d settlement.Date) int {
	n, _ := strconv.Atoi(strings.ReplaceAll(string(d), "-", ""))
	return n
}

// WriteCSV writes a Format 1 file.
func WriteCSV(w io.Writer, fileID string, sender settlement.BIC, date settlement.Date, created time.Time, ps []Payment) error {
	var b bytes.Buffer
	fmt.Fprintf(&b, "H,%s,%s,%s,%s\n", fileID, sender, date, created.Format(time.RFC3339))
	total := controlSum{}
	for _, p := range ps {
		b.WriteString("P,")
		b.WriteString(p.ID)
		b.WriteByte(',')
		b.WriteString(string(p.Debtor))
		b.WriteByte(',')
		b.WriteString(string(p.Creditor))
		b.WriteByte(',')
		b.WriteString(p.Amount)
		b.WriteByte(',')
		b.WriteString(p.Currency)
		if p.Remittance != "" {
			b.WriteByte(',')
			b.WriteString(p.Remittance)
		}
		b.WriteByte('\n')
		total.add(p.Amount)
		if b.Len() > 1<<20 {
			if _, err := w.Write(b.Bytes()); err != nil {
				return err
			}
			b.Reset()
		}
	}
	fmt.Fprintf(&b, "T,%d,%s\n", len(ps), total.String())
	_, err := w.Write(b.Bytes())
	return err
}

// WriteXML writes a Format 2 (pacs.008.001.08) file, valid against the
// official schema (Dbtr and Cdtr, mandatory there and unused by the
// scheme, name the agents' customers).
func WriteXML(w io.Writer, fileID string, sender settlement.BIC, date settlement.Date, created time.Time, ps []Payment) error {
	return writeXML(w, false, fileID, sender, date, created, ps)
}

// WriteXMLInAppHdr writes the same pacs.008 in a business application
// header envelope, as CBPR+ sends it: an AppHdr (head.001.001.02) from the
// sender to the scheme, then the Document.
func WriteXMLInAppHdr(w io.Writer, fileID string, sender settlement.BIC, date settlement.Date, created time.Time, ps []Payment) error {
	return writeXML(w, true, fileID, sender, date, created, ps)
}

// SchemeBIC is the scheme's own BIC, the AppHdr's addressee.
const SchemeBIC = "KSCHKRSE"

func writeAppHdr(b *bytes.Buffer, fileID string, sender settlement.BIC, msg string, created time.Time) {
	fmt.Fprintf(b, `<?xml version="1.0" encoding="UTF-8"?>
<BizMsgEnvlp>
<AppHdr xmlns="urn:iso:std:iso:20022:tech:xsd:head.001.001.02">
  <Fr><FIId><FinInstnId><BICFI>%s</BICFI></FinInstnId></FIId></Fr>
  <To><FIId><FinInstnId><BICFI>%s</BICFI></FinInstnId></FIId></To>
  <BizMsgIdr>%s</BizMsgIdr>
  <MsgDefIdr>%s</MsgDefIdr>
  <CreDt>%s</CreDt>
</AppHdr>
`, sender, SchemeBIC, fileID, msg, created.UTC().Format(time.RFC3339))
}

func writeXML(w io.Writer, env bool, fileID string, sender settlement.BIC, date settlement.Date, created time.Time, ps []Payment) error {
	var b bytes.Buffer
	total := controlSum{}
	for _, p := range ps {
		total.add(p.Amount)
	}
	if env {
		writeAppHdr(&b, fileID, sender, "pacs.008.001.08", created)
	} else {
		b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n")
	}
	fmt.Fprintf(&b, `<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pacs.008.001.08">
  <FIToFICstmrCdtTrf>
    <GrpHdr>
      <MsgId>%s</MsgId>
      <CreDtTm>%s</CreDtTm>
      <NbOfTxs>%d</NbOfTxs>
      <CtrlSum>%s</CtrlSum>
      <IntrBkSttlmDt>%s</IntrBkSttlmDt>
      <SttlmInf><SttlmMtd>CLRG</SttlmMtd></SttlmInf>
      <InstgAgt><FinInstnId><BICFI>%s</BICFI></FinInstnId></InstgAgt>
    </GrpHdr>
`, fileID, created.Format(time.RFC3339), len(ps), total.String(), date, sender)
	for _, p := range ps {
		fmt.Fprintf(&b, `    <CdtTrfTxInf>
      <PmtId><EndToEndId>%s</EndToEndId></PmtId>
      <IntrBkSttlmAmt Ccy="%s">%s</IntrBkSttlmAmt>
      <ChrgBr>SLEV</ChrgBr>
      <Dbtr><Nm>Customer of %s</Nm></Dbtr>
      <DbtrAgt><FinInstnId><BICFI>%s</BICFI></FinInstnId></DbtrAgt>
      <CdtrAgt><FinInstnId><BICFI>%s</BICFI></FinInstnId></CdtrAgt>
      <Cdtr><Nm>Customer of %s</Nm></Cdtr>
`, p.ID, p.Currency, p.Amount, p.Debtor, p.Debtor, p.Creditor, p.Creditor)
		if p.Remittance != "" {
			b.WriteString("      <RmtInf><Ustrd>")
			xmlEscape(&b, p.Remittance)
			b.WriteString("</Ustrd></RmtInf>\n")
		}
		b.WriteString("    </CdtTrfTxInf>\n")
		if b.Len() > 1<<20 {
			if _, err := w.Write(b.Bytes()); err != nil {
				return err
			}
			b.Reset()
		}
	}
	b.WriteString("  </FIToFICstmrCdtTrf>\n</Document>\n")
	if env {
		b.WriteString("</BizMsgEnvlp>\n")
	}
	_, err := w.Write(b.Bytes())
	return err
}

// reasonCodes are the contract's reversal reasons, in a fixed order.
var reasonCodes = func() []string {
	out := make([]string, 0, len(settlement.Reasons))
	for c := range settlement.Reasons {
		out = append(out, c)
	}
	sort.Strings(out)
	return out
}()

// Reversals picks every every-th payment of originals (bank i's payments
// of an earlier day) to reverse, each with a reason of the contract's list.
func Reversals(originals []Payment, every int, date settlement.Date) []Reversal {
	var out []Reversal
	if every <= 0 {
		return nil
	}
	prefix := "R" + strings.ReplaceAll(string(date), "-", "") + "-"
	for j := every - 1; j < len(originals); j += every {
		p := originals[j]
		out = append(out, Reversal{ID: prefix + p.ID, Original: p, Reason: reasonCodes[j%len(reasonCodes)]})
	}
	return out
}

// Reversal is a generated reversal of a whole earlier payment.
type Reversal struct {
	ID       string
	Original Payment
	Reason   string
}

// WriteReversals writes a Format 3 (pacs.007.001.09) file, valid against
// the official schema, reversing each payment whole.
func WriteReversals(w io.Writer, fileID string, sender settlement.BIC, date settlement.Date, created time.Time, rs []Reversal) error {
	var b bytes.Buffer
	total := controlSum{}
	for _, r := range rs {
		total.add(r.Original.Amount)
	}
	fmt.Fprintf(&b, `<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pacs.007.001.09">
  <FIToFIPmtRvsl>
    <GrpHdr>
      <MsgId>%s</MsgId>
      <CreDtTm>%s</CreDtTm>
      <NbOfTxs>%d</NbOfTxs>
      <CtrlSum>%s</CtrlSum>
      <IntrBkSttlmDt>%s</IntrBkSttlmDt>
      <SttlmInf><SttlmMtd>CLRG</SttlmMtd></SttlmInf>
      <InstgAgt><FinInstnId><BICFI>%s</BICFI></FinInstnId></InstgAgt>
    </GrpHdr>
`, fileID, created.Format(time.RFC3339), len(rs), total.String(), date, sender)
	for _, r := range rs {
		p := r.Original
		fmt.Fprintf(&b, `    <TxInf>
      <RvslId>%s</RvslId>
      <OrgnlEndToEndId>%s</OrgnlEndToEndId>
      <OrgnlIntrBkSttlmAmt Ccy="%s">%s</OrgnlIntrBkSttlmAmt>
      <RvsdIntrBkSttlmAmt Ccy="%s">%s</RvsdIntrBkSttlmAmt>
      <RvslRsnInf><Rsn><Cd>%s</Cd></Rsn></RvslRsnInf>
      <OrgnlTxRef>
        <DbtrAgt><FinInstnId><BICFI>%s</BICFI></FinInstnId></DbtrAgt>
        <CdtrAgt><FinInstnId><BICFI>%s</BICFI></FinInstnId></CdtrAgt>
      </OrgnlTxRef>
    </TxInf>
`, r.ID, p.ID, p.Currency, p.Amount, p.Currency, p.Amount, r.Reason, p.Debtor, p.Creditor)
		if b.Len() > 1<<20 {
			if _, err := w.Write(b.Bytes()); err != nil {
				return err
			}
			b.Reset()
		}
	}
	b.WriteString("  </FIToFIPmtRvsl>\n</Document>\n")
	_, err := w.Write(b.Bytes())
	return err
}

func xmlEscape(b *bytes.Buffer, s string) {
	r := strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")
	b.WriteString(r.Replace(s))
}

// controlSum adds decimal strings exactly, at 4 decimals, without floats.
type controlSum struct{ units []uint64 } // little-endian base 10^18 limbs

func (c *controlSum) add(s string) {
	intPart, frac, _ := strings.Cut(s, ".")
	frac = (frac + "0000")[:4]
	digits := intPart + frac
	// Add the digit string to the limbs, 18 digits at a time from the right.
	carry := uint64(0)
	for i := 0; len(digits) > 0 || carry > 0; i++ {
		chunk := uint64(0)
		if len(digits) > 0 {
			k := max(0, len(digits)-18)
			chunk, _ = strconv.ParseUint(digits[k:], 10, 64)
			digits = digits[:k]
		}
		if i == len(c.units) {
			c.units = append(c.units, 0)
		}
		v := c.units[i] + chunk + carry
		c.units[i], carry = v%1e18, v/1e18
	}
}

func (c *controlSum) String() string {
	if len(c.units) == 0 {
		return "0"
	}
	var sb strings.Builder
	sb.WriteString(strconv.FormatUint(c.units[len(c.units)-1], 10))
	for i := len(c.units) - 2; i >= 0; i-- {
		fmt.Fprintf(&sb, "%018d", c.units[i])
	}
	s := sb.String()
	for len(s) < 5 {
		s = "0" + s
	}
	intPart, frac := s[:len(s)-4], strings.TrimRight(s[len(s)-4:], "0")
	if frac == "" {
		return intPart
	}
	return intPart + "." + frac
}

// Written lists what Day wrote.
type Written struct {
	Banks     []Bank
	Files     []string // payment and reversal files, in bank order
	Reversals int      // reversals across the pacs.007 files
	Members   string
	Caps      string
	KeysDir   string
}

// write writes one file and its detached signature by the bank.
func (w *Written) write(b Bank, name string, data []byte) error {
	sig, err := Sign(b.Private, data)
	if err != nil {
		return err
	}
	if err := os.WriteFile(name, data, 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(name+".sig", sig, 0o644); err != nil {
		return err
	}
	w.Files = append(w.Files, name)
	return nil
}

// Day writes a whole day under dir: keys/<BIC>.pem (public),
// private/<BIC>.key (0600), members.txt, caps.csv and files/<name> with
// <name>.sig for every bank.
func Day(cfg Config, dir string) (*Written, error) {
	bics, err := checkDay(cfg)
	if err != nil {
		return nil, err
	}
	var banks []Bank
	if cfg.KeysFrom != "" {
		banks, err = LoadKeys(bics, cfg.KeysFrom)
	} else {
		banks, err = Keys(bics)
	}
	if err != nil {
		return nil, err
	}
	w := &Written{Banks: banks, KeysDir: filepath.Join(dir, "keys"),
		Members: filepath.Join(dir, "members.txt"), Caps: filepath.Join(dir, "caps.csv")}
	for _, d := range []string{"keys", "private", "files"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return nil, err
		}
	}
	var members, caps bytes.Buffer
	caps.WriteString("bic,currency,cap\n")
	created, _ := time.Parse(time.RFC3339, string(cfg.Date)+"T17:30:00+09:00")
	dw := &dayWriter{cfg: cfg, dir: dir, bics: bics, created: created, w: w}
	for i, b := range banks {
		if err := writeKeys(dir, b); err != nil {
			return nil, err
		}
		fmt.Fprintln(&members, b.BIC)
		// A cap in every currency generated: a net debtor without a cap in
		// a currency cannot settle there (the ledger refuses it).
		fmt.Fprintf(&caps, "%s,KRW,5000000000000\n%s,USD,50000000.00\n%s,JPY,500000000000\n%s,KWD,10000000.000\n", b.BIC, b.BIC, b.BIC, b.BIC)
		if err := dw.payments(i, b); err != nil {
			return nil, err
		}
		if err := dw.reversals(i, b); err != nil {
			return nil, err
		}
	}
	if err := os.WriteFile(w.Members, members.Bytes(), 0o644); err != nil {
		return nil, err
	}
	if err := os.WriteFile(w.Caps, caps.Bytes(), 0o644); err != nil {
		return nil, err
	}
	return w, nil
}

// checkDay refuses a configuration Day cannot write, before it writes
// anything, and returns the day's banks.
func checkDay(cfg Config) ([]settlement.BIC, error) {
	bics, err := Banks(cfg.Banks)
	if err != nil {
		return nil, err
	}
	if cfg.Payments < 0 || cfg.Payments > 50_000_000 {
		return nil, fmt.Errorf("payments must be 0..50000000, got %d", cfg.Payments)
	}
	if _, err := settlement.ParseDate(string(cfg.Date)); err != nil {
		return nil, err
	}
	if cfg.ReversalEvery > 0 {
		if _, err := settlement.ParseDate(string(cfg.ReverseDate)); err != nil {
			return nil, fmt.Errorf("the day to reverse payments of: %w", err)
		}
		if cfg.ReverseDate >= cfg.Date {
			return nil, fmt.Errorf("reversals of %s on %s: the originals must be of an earlier day", cfg.ReverseDate, cfg.Date)
		}
	}
	return bics, nil
}

// writeKeys writes bank b's public key under keys/ and its private key,
// readable by its owner only, under private/.
func writeKeys(dir string, b Bank) error {
	pub, err := PublicPEM(b.Private)
	if err != nil {
		return err
	}
	priv, err := PrivatePEM(b.Private)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "keys", string(b.BIC)+".pem"), pub, 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "private", string(b.BIC)+".key"), priv, 0o600)
}

// dayWriter writes each bank's files of one Day.
type dayWriter struct {
	cfg      Config
	dir      string
	bics     []settlement.BIC
	created  time.Time
	w        *Written
	xmlFiles int // XML payment files so far, across banks (AppHdrEvery)
}

// payments writes bank i's payments of the day: one file, or as many as
// FilePaymentsMax needs, in CSV or (every XMLEvery-th bank) pacs.008,
// every AppHdrEvery-th XML file in a business application header.
func (d *dayWriter) payments(i int, b Bank) error {
	cfg := d.cfg
	all := DayPayments(cfg, d.bics, i)
	per := len(all)
	if cfg.FilePaymentsMax > 0 && per > cfg.FilePaymentsMax {
		per = cfg.FilePaymentsMax
	}
	var buf bytes.Buffer
	xmlBank := cfg.XMLEvery > 0 && i%cfg.XMLEvery == cfg.XMLEvery-1
	for n := 0; n == 0 || n*per < len(all); n++ {
		ps := all[min(n*per, len(all)):min((n+1)*per, len(all))]
		fileID := fmt.Sprintf("F%s-%s-%03d", strings.ReplaceAll(string(cfg.Date), "-", ""), b.BIC[:4], n+1)
		buf.Reset()
		ext := ".csv"
		var err error
		if xmlBank {
			ext = ".xml"
			d.xmlFiles++
			if cfg.AppHdrEvery > 0 && d.xmlFiles%cfg.AppHdrEvery == 0 {
				err = WriteXMLInAppHdr(&buf, fileID, b.BIC, cfg.Date, d.created, ps)
			} else {
				err = WriteXML(&buf, fileID, b.BIC, cfg.Date, d.created, ps)
			}
		} else {
			err = WriteCSV(&buf, fileID, b.BIC, cfg.Date, d.created, ps)
		}
		if err != nil {
			return err
		}
		if err := d.w.write(b, filepath.Join(d.dir, "files", fmt.Sprintf("%s_%s%s", b.BIC, fileID, ext)), buf.Bytes()); err != nil {
			return err
		}
	}
	return nil
}

// reversals writes bank i's pacs.007 of the day, when reversals are
// asked for: every ReversalEvery-th payment of its ReverseDate reversed
// (none written if that reverses nothing).
func (d *dayWriter) reversals(i int, b Bank) error {
	cfg := d.cfg
	if cfg.ReversalEvery <= 0 {
		return nil
	}
	fileID := fmt.Sprintf("F%s-%s-001", strings.ReplaceAll(string(cfg.Date), "-", ""), b.BIC[:4])
	earlier := cfg
	earlier.Date = cfg.ReverseDate
	if cfg.ReversePayments > 0 {
		earlier.Payments = cfg.ReversePayments
	}
	rs := Reversals(DayPayments(earlier, d.bics, i), cfg.ReversalEvery, cfg.Date)
	if len(rs) == 0 {
		return nil
	}
	revID := "R" + fileID[1:]
	var buf bytes.Buffer
	if err := WriteReversals(&buf, revID, b.BIC, cfg.Date, d.created, rs); err != nil {
		return err
	}
	if err := d.w.write(b, filepath.Join(d.dir, "files", fmt.Sprintf("%s_%s.xml", b.BIC, revID)), buf.Bytes()); err != nil {
		return err
	}
	d.w.Reversals += len(rs)
	return nil
}
