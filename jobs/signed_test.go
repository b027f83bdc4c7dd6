package jobs_test

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"settle/adapters/schemekey"
	"settle/adapters/sftp"
	"settle/jobs"
	"settle/settlement"
)

// TestSignedOutboxSignsEveryFile: reports from memory and from disk, and
// acknowledgements, each get a <file>.sig that verifies under the
// scheme's published key; after a rotation new files verify under the
// new key, and publishing leaves both PEMs in the outbox until the old
// key is retired.
func TestSignedOutboxSignsEveryFile(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	st, err := sftp.NewStorage(root, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	keys := schemekey.Dir{Path: filepath.Join(t.TempDir(), "keys")}
	if _, err := keys.Init("k1"); err != nil {
		t.Fatal(err)
	}
	signer := &schemekey.Signer{Dir: keys}
	out := jobs.SignedInbox{BankInbox: st, Signer: signer}
	bank := settlement.BIC("SHBKKRSE")
	outbox := filepath.Join(root, "banks", string(bank), "outbox")
	check := func(name, label string) {
		t.Helper()
		body, err := os.ReadFile(filepath.Join(outbox, name))
		if err != nil {
			t.Fatal(err)
		}
		sig, err := os.ReadFile(filepath.Join(outbox, name+".sig"))
		if err != nil {
			t.Fatalf("%s has no signature: %v", name, err)
		}
		set, _ := signer.Keys()
		if l, ok := set.Verify(body, sig); !ok || l != label {
			t.Errorf("%s: signed by %q (%v), want %s", name, l, ok, label)
		}
	}
	if err := out.Put(ctx, bank, "positions-2026-11-24.json", []byte("{}\n")); err != nil {
		t.Fatal(err)
	}
	check("positions-2026-11-24.json", "k1")
	big := filepath.Join(t.TempDir(), "stmt")
	os.WriteFile(big, make([]byte, 3<<20), 0o600)
	if err := out.PutFile(ctx, bank, "C2026-11-24.camt053.xml", big); err != nil {
		t.Fatal(err)
	}
	check("C2026-11-24.camt053.xml", "k1")

	if _, err := keys.Rotate("k2"); err != nil {
		t.Fatal(err)
	}
	f := jobs.InboxFile{Bank: bank, Name: "F1.csv"}
	os.MkdirAll(filepath.Join(root, "banks", string(bank), "inbox"), 0o750)
	if err := out.Ack(ctx, f, "F1.csv.ack.json", []byte(`{"status":"ACCEPTED"}`+"\n")); err != nil {
		t.Fatal(err)
	}
	check("F1.csv.ack.json", "k2")
	check("positions-2026-11-24.json", "k1") // still verifies during the rotation

	publish := func() {
		t.Helper()
		set, _ := signer.Keys()
		retired, _ := keys.Retired()
		var pub []jobs.PublicKey
		for _, k := range set.Published {
			pub = append(pub, jobs.PublicKey{Label: k.Label, PEM: k.PublicPEM()})
		}
		if err := jobs.PublishKeys(ctx, out, []settlement.BIC{bank}, pub, retired); err != nil {
			t.Fatal(err)
		}
	}
	publish()
	check("scheme.k1.pem", "k2")
	check("scheme.k2.pem", "k2")
	if err := keys.Retire("k1"); err != nil {
		t.Fatal(err)
	}
	publish()
	for _, gone := range []string{"scheme.k1.pem", "scheme.k1.pem.sig"} {
		if _, err := os.Stat(filepath.Join(outbox, gone)); !os.IsNotExist(err) {
			t.Errorf("%s still in the outbox after retiring k1: %v", gone, err)
		}
	}
	check("scheme.k2.pem", "k2")
}
