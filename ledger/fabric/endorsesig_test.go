package fabric

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"testing"
	"time"

	"github.com/golang/protobuf/proto"
	"github.com/hyperledger/fabric-protos-go/msp"
)

// TestEndorsementVerifies: an endorsement signed as Fabric signs it (ECDSA
// P-256 over SHA-256 of the proposal response payload and the endorser's
// serialized identity) verifies; a changed payload, another identity's
// certificate or a garbled signature does not.
func TestEndorsementVerifies(t *testing.T) {
	identity := func(cn string) (*ecdsa.PrivateKey, []byte) {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn},
			NotBefore: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), NotAfter: time.Date(2036, 1, 1, 0, 0, 0, 0, time.UTC)}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
		if err != nil {
			t.Fatal(err)
		}
		sid, err := proto.Marshal(&msp.SerializedIdentity{Mspid: "Bank1MSP", IdBytes: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})})
		if err != nil {
			t.Fatal(err)
		}
		return key, sid
	}
	key, endorser := identity("peer0.bank1")
	_, other := identity("peer0.bank2")
	prp := []byte("proposal response payload")
	sum := sha256.Sum256(append(append([]byte(nil), prp...), endorser...))
	sig, err := ecdsa.SignASN1(rand.Reader, key, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	if !endorsementVerifies(prp, endorser, sig) {
		t.Fatal("a good endorsement does not verify")
	}
	bad := append([]byte(nil), sig...)
	bad[len(bad)-1] ^= 1
	for name, c := range map[string]struct{ prp, endorser, sig []byte }{
		"changed payload":  {[]byte("proposal response payloaD"), endorser, sig},
		"another identity": {prp, other, sig},
		"garbled":          {prp, endorser, bad},
		"no identity":      {prp, []byte("junk"), sig},
	} {
		if endorsementVerifies(c.prp, c.endorser, c.sig) {
			t.Errorf("%s: verifies", name)
		}
	}
}
