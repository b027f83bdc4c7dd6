package chaincode

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"testing"
	"time"

	"github.com/hyperledger/fabric-protos-go-apiv2/msp"
	"google.golang.org/protobuf/proto"

	"settle/ledger/chaincode/contracttest"
)

// memBackend runs the contract test on the in-memory ledger, as one identity.
type memBackend struct {
	l       *memLedger
	creator []byte
}

func (m memBackend) Submit(_ *testing.T, fn string, args ...string) ([]byte, error) {
	return m.l.invokeAs(m.creator, fn, args...)
}

func (m memBackend) Evaluate(_ *testing.T, fn string, args ...string) ([]byte, error) {
	before := len(m.l.state)
	out, err := m.l.invokeAs(m.creator, fn, args...)
	if len(m.l.state) != before {
		panic("a query wrote to the ledger: " + fn)
	}
	return out, err
}

func TestContract(t *testing.T) { contracttest.Run(t, memBackend{l: newLedger()}) }

// identity is a serialized identity of msp with a NodeOU role, as a peer
// hands it to the chaincode (GetCreator): a certificate with OU=role.
func identity(t testing.TB, mspID, role string) []byte {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: role + "@" + mspID, Organization: []string{mspID}, OrganizationalUnit: []string{role}},
		NotBefore:    time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC), NotAfter: time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := proto.Marshal(&msp.SerializedIdentity{Mspid: mspID, IdBytes: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})})
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// memGoverned is the in-memory ledger with an operator org and four banks.
type memGoverned struct {
	t   *testing.T
	l   *memLedger
	ids map[[2]string][]byte
}

func newMemGoverned(t *testing.T) *memGoverned {
	return &memGoverned{t: t, l: newLedger(), ids: map[[2]string][]byte{}}
}

func (m *memGoverned) As(mspID, role string) contracttest.Backend {
	k := [2]string{mspID, role}
	if m.ids[k] == nil {
		m.ids[k] = identity(m.t, mspID, role)
	}
	return memBackend{l: m.l, creator: m.ids[k]}
}

func (m *memGoverned) Operator() string { return "OperatorMSP" }

func (m *memGoverned) Banks() []contracttest.Org {
	return []contracttest.Org{{MSPID: "Bank1MSP", BIC: "SHBKKRSE"}, {MSPID: "Bank2MSP", BIC: "CZNBKRSE"},
		{MSPID: "Bank3MSP", BIC: "HVBKKRSE"}, {MSPID: "Bank4MSP", BIC: "KOEXKRSE"}}
}

func TestGovernedContract(t *testing.T) { contracttest.RunGoverned(t, newMemGoverned(t)) }
