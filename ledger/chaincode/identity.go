package chaincode

import (
	"crypto/x509"
	"encoding/pem"

	"github.com/hyperledger/fabric-protos-go-apiv2/msp"
	"google.golang.org/protobuf/proto"
)

// Roles of a caller, from the NodeOU of its certificate (the network enables
// NodeOUs: cryptogen writes OU=admin, client, peer or orderer).
const (
	RoleAdmin  = "admin"
	RoleClient = "client"
	RolePeer   = "peer"
	RoleOther  = "" // a certificate with none of the NodeOUs
)

// creatorBytesMax bounds the serialized identity the chaincode parses.
const creatorBytesMax = 16 << 10

// Caller is who submitted the transaction, as every peer reads it from the
// proposal's creator: the MSP that issued its certificate and its role. The
// peer has already checked that the creator signed the proposal and that its
// certificate chains to that MSP, so nothing in the payload can change it.
type Caller struct {
	MSPID   string
	Role    string
	Subject string
}

// caller reads the transaction's creator. A creator that does not parse is
// refused: a chaincode that cannot tell who calls must not write anything.
func caller(s Stub) (Caller, error) {
	raw, err := s.GetCreator()
	if err != nil {
		return Caller{}, internal("read creator: %v", err)
	}
	if len(raw) == 0 || len(raw) > creatorBytesMax {
		return Caller{}, refuse(CodeNotAuthorized, "the transaction's creator is empty or larger than %d bytes", creatorBytesMax)
	}
	var id msp.SerializedIdentity
	if err := proto.Unmarshal(raw, &id); err != nil {
		return Caller{}, refuse(CodeNotAuthorized, "the transaction's creator is not a serialized identity: %v", err)
	}
	block, _ := pem.Decode(id.GetIdBytes())
	if block == nil || block.Type != "CERTIFICATE" {
		return Caller{}, refuse(CodeNotAuthorized, "the creator of MSP %q carries no PEM certificate", clip(id.GetMspid()))
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return Caller{}, refuse(CodeNotAuthorized, "the creator's certificate does not parse: %v", err)
	}
	c := Caller{MSPID: id.GetMspid(), Role: RoleOther, Subject: cert.Subject.CommonName}
	// A certificate with several NodeOUs takes the weakest: admin only if it
	// is not also a client or peer certificate.
	ous := map[string]bool{}
	for _, ou := range cert.Subject.OrganizationalUnit {
		ous[ou] = true
	}
	switch {
	case ous[RolePeer]:
		c.Role = RolePeer
	case ous[RoleClient]:
		c.Role = RoleClient
	case ous[RoleAdmin]:
		c.Role = RoleAdmin
	}
	return c, nil
}

func (c Caller) String() string {
	role := c.Role
	if role == "" {
		role = "no role"
	}
	return c.MSPID + " " + role + " (" + clip(c.Subject) + ")"
}
