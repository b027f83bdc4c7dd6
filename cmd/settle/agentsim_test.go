package main

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"settle/adapters/schemekey"
	"settle/formats"
	"settle/formats/agentcamt"
	"settle/formats/pacs009"
	"settle/settlement"
	"settle/signature"
)

// TestAgentSim: the simulator books what the scheme signed, one transfer
// with a wrong amount and one left out as asked, and signs its answer;
// an instruction the scheme did not sign is refused.
func TestAgentSim(t *testing.T) {
	in, out := t.TempDir(), t.TempDir()
	keys := schemekey.Dir{Path: filepath.Join(t.TempDir(), "k")}
	k, _ := keys.Init("k1")
	os.WriteFile(filepath.Join(in, schemekey.PEMName("k1")), k.PublicPEM(), 0o600)
	krw, _ := settlement.ParseCurrency("KRW")
	ps := []settlement.Position{{Bank: "SHBKKRSE", Currency: krw, Net: decimal.New(-300, 0)},
		{Bank: "CZNBKRSE", Currency: krw, Net: decimal.New(100, 0)}, {Bank: "HVBKKRSE", Currency: krw, Net: decimal.New(200, 0)}}
	ins, _ := settlement.Instructions("C2026-11-24", krw, ps)
	ag := pacs009.Agent{BIC: "BOKRKRSE", SchemeAccount: "SETTLE-01", Accounts: map[settlement.BIC]string{"SHBKKRSE": "A", "CZNBKRSE": "B", "HVBKKRSE": "C"}}
	var buf bytes.Buffer
	if err := pacs009.Write(&buf, pacs009.Message{MsgID: "C2026-11-24-KRW", Created: time.Date(2026, 11, 24, 20, 0, 0, 0, time.UTC), BusinessDate: "2026-11-24", Scheme: "SETLKRSE", Agent: ag, Currency: krw, Instructions: ins}); err != nil {
		t.Fatal(err)
	}
	name := pacs009.Name("C2026-11-24", krw)
	os.WriteFile(filepath.Join(in, name), buf.Bytes(), 0o600)
	os.WriteFile(filepath.Join(in, name+".sig"), k.Sign(buf.Bytes()), 0o600)
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	sim := &agentSim{In: in, Out: out, Scheme: "SETLKRSE", Account: "SETTLE-01", Key: priv, SchemeKeys: []ed25519.PublicKey{k.Public()},
		WrongAmount: 1, Skip: 3, Now: time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)}
	written, err := sim.run()
	if err != nil || len(written) != 1 {
		t.Fatalf("%v %v", written, err)
	}
	answer, _ := os.ReadFile(filepath.Join(out, written[0]))
	sig, _ := os.ReadFile(filepath.Join(out, written[0]+".sig"))
	if d, err := signature.DecodeSig(sig); err != nil || !ed25519.Verify(priv.Public().(ed25519.PublicKey), answer, d) {
		t.Fatalf("answer not signed by the agent: %v", err)
	}
	var got []agentcamt.Booking
	if _, ps, err := agentcamt.Read(bytes.NewReader(answer), formats.Limits{}, func(b agentcamt.Booking) { got = append(got, b) }); err != nil || len(ps) > 0 {
		t.Fatalf("%v %v", ps, err)
	}
	if len(got) != 2 || !got[0].Amount.Equal(ins[0].Amount.Add(decimal.New(1, 0))) || !got[0].Credit || got[1].Credit ||
		got[1].EndToEndID != ins[1].EndToEndID() || !got[1].Amount.Equal(ins[1].Amount) {
		t.Fatalf("bookings %v for %v", got, ins)
	}
	// Run again: nothing new. A file the scheme did not sign: refused.
	if w, err := sim.run(); err != nil || len(w) != 0 {
		t.Fatalf("again: %v %v", w, err)
	}
	os.Remove(filepath.Join(out, written[0]))
	os.WriteFile(filepath.Join(in, name+".sig"), []byte("AAAA\n"), 0o600)
	if _, err := sim.run(); err == nil {
		t.Fatal("an unsigned instruction was booked")
	}
}
