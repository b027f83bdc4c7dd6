package fabric

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// networkBytesMax bounds network.json; a 9-bank description is a few KB.
const networkBytesMax = 1 << 20

// Network is the part of ops/fabric's network.json the client uses.
type Network struct {
	Channel    string `json:"channel"`
	Chaincode  string `json:"chaincode"`
	BasePort   int    `json:"basePort"`
	NetworkDir string `json:"networkDir"`
	FabricDir  string `json:"fabricDir"`
	Orderer    struct {
		MSPID        string `json:"mspId"`
		Address      string `json:"address"`
		HostOverride string `json:"hostOverride"`
		TLSCACert    string `json:"tlsCACert"`
	} `json:"orderer"`
	// Orderers is every ordering node (BFT: one per member); a description
	// without it has the one Orderer above.
	Orderers []Orderer `json:"orderers"`
	Banks    []Bank    `json:"banks"`
	// Operators are the scheme-operator orgs: identities only, no peers; they
	// submit and read, they never endorse (ops/fabric's OutOf policy names banks).
	Operators []Bank `json:"operators"`
	// ExtraChaincodes are more definitions of the same chaincode, each with a
	// ledger (namespace) of its own (FABRIC_CHAINCODE_EXTRA).
	ExtraChaincodes []string `json:"extraChaincodes"`
	// EndorsementPolicy is the channel's, as written in its configuration.
	EndorsementPolicy string `json:"endorsementPolicy"`
}

// Bank is one bank organisation of the network: its peer and two identities.
type Bank struct {
	Index int    `json:"index"`
	Org   string `json:"org"`
	MSPID string `json:"mspId"`
	Peer  struct {
		Address      string `json:"address"`
		HostOverride string `json:"hostOverride"`
		TLSCACert    string `json:"tlsCACert"`
	} `json:"peer"`
	Admin Identity `json:"admin"`
	User  Identity `json:"user"`
}

// Identity is a certificate and its private key, as files.
type Identity struct {
	Cert string `json:"cert"`
	Key  string `json:"key"`
}

// ReadNetwork parses a network.json.
func ReadNetwork(r io.Reader) (*Network, error) {
	raw, err := io.ReadAll(io.LimitReader(r, networkBytesMax+1))
	if err != nil {
		return nil, err
	}
	if len(raw) > networkBytesMax {
		return nil, fmt.Errorf("network description is larger than %d bytes", networkBytesMax)
	}
	var n Network
	if err := json.Unmarshal(raw, &n); err != nil {
		return nil, fmt.Errorf("network description: %w", err)
	}
	if n.Channel == "" || n.Chaincode == "" || n.Orderer.Address == "" || len(n.Banks) == 0 {
		return nil, fmt.Errorf("network description lacks channel, chaincode, orderer or banks")
	}
	for i, b := range n.Banks {
		if b.Index != i+1 || b.MSPID == "" || b.Peer.Address == "" {
			return nil, fmt.Errorf("network description: bank %d is incomplete or out of order", i+1)
		}
	}
	for i, o := range n.Orderers {
		if o.Index != i || o.Address == "" || o.MSPID == "" || o.TLSCACert == "" {
			return nil, fmt.Errorf("network description: orderer %d is incomplete or out of order", i)
		}
	}
	for i, o := range n.Operators {
		if o.Index != i+1 || o.MSPID == "" || o.Org == "" || o.Peer.Address != "" {
			return nil, fmt.Errorf("network description: operator %d is incomplete, out of order or has a peer", i+1)
		}
	}
	return &n, nil
}

// LoadNetwork reads the network.json at path.
func LoadNetwork(path string) (*Network, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	n, err := ReadNetwork(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return n, nil
}

// Majority is the number of banks whose endorsement the channel's MAJORITY
// policy requires.
func (n *Network) Majority() int { return len(n.Banks)/2 + 1 }

// peerName is the connection profile's name of bank i's peer.
func (b *Bank) peerName() string {
	if b.Peer.HostOverride != "" {
		return b.Peer.HostOverride
	}
	return fmt.Sprintf("peer0.bank%d", b.Index)
}

// profile builds the fabric-sdk-go connection profile (JSON, which viper reads
// as it reads YAML) for a client acting as user in org. Every orderer is
// listed, under channels.<name>.orderers too (the SDK's own transactor needs
// one there); the client broadcasts to all of them itself (ordering.go). No
// discovery: the client chooses its endorsers itself.
func (n *Network) profile(org *Bank, user string, id Identity, logLevel string) ([]byte, error) {
	orgs, peers, chPeers := n.profileOrgs(org, user, id)
	orderers, chOrderers := n.profileOrderers()
	p := map[string]any{
		"version": "1.0.0",
		"client":  profileClient(org.Org, logLevel),
		"channels": map[string]any{n.Channel: map[string]any{
			"orderers": chOrderers,
			"peers":    chPeers,
			"policies": profileChannelPolicies(),
		}},
		"organizations": orgs,
		"orderers":      orderers,
		"peers":         peers,
	}
	return json.MarshalIndent(p, "", " ")
}

// profileOrgs is the profile's organizations, the banks' peers, and the
// channel's peers (every one endorsing, queried and an event source).
//
// An operator org has no peer, and fabric-sdk-go reads the channel's
// configuration (cscc) only from peers the profile lists under the
// client's own org (chconfig.calculateTargetsFromConfig: "only they can
// query system chaincode", true of Fabric 1.x; any channel reader may
// now). So an operator client's profile lists the banks' peers under the
// operator org. That is the SDK's bookkeeping only: the client picks its
// endorsers itself with each peer's real MSP, and an endorsement's MSP is
// read from the peer's signed response, never from the profile.
func (n *Network) profileOrgs(org *Bank, user string, id Identity) (orgs, peers, chPeers map[string]any) {
	orgs, peers, chPeers = map[string]any{}, map[string]any{}, map[string]any{}
	var operatorPeers []string
	operator := false
	for i := range n.Operators {
		operator = operator || &n.Operators[i] == org
	}
	for i := range n.Banks {
		b := &n.Banks[i]
		// The SDK insists on a crypto path or users for every org; the
		// client only signs as org's user, embedded below.
		own := []string{b.peerName()}
		if operator {
			operatorPeers = append(operatorPeers, b.peerName())
			own = []string{}
		}
		orgs[b.Org] = profileOrg(b, own, b == org, user, id)
		peers[b.peerName()] = map[string]any{
			"url":         "grpcs://" + b.Peer.Address,
			"grpcOptions": grpcOptions(b.Peer.HostOverride),
			"tlsCACerts":  map[string]string{"path": b.Peer.TLSCACert},
		}
		chPeers[b.peerName()] = map[string]bool{
			"endorsingPeer": true, "chaincodeQuery": true, "ledgerQuery": true, "eventSource": true,
		}
	}
	for i := range n.Operators {
		o := &n.Operators[i]
		peersOf := []string{}
		if o == org {
			peersOf = operatorPeers
		}
		orgs[o.Org] = profileOrg(o, peersOf, o == org, user, id)
	}
	return orgs, peers, chPeers
}

// profileOrg is one organization of the profile with the peers listed
// under it; the client's own (self) also carries its user's certificate
// and key.
func profileOrg(b *Bank, peers []string, self bool, user string, id Identity) map[string]any {
	o := map[string]any{"mspid": b.MSPID, "peers": peers,
		"cryptoPath": filepath.Dir(filepath.Dir(b.User.Cert))}
	if self {
		o["users"] = map[string]any{user: map[string]any{
			"cert": map[string]string{"path": id.Cert},
			"key":  map[string]string{"path": id.Key},
		}}
	}
	return o
}

// profileOrderers is every orderer of the network, and their names for
// the channel's list.
func (n *Network) profileOrderers() (orderers map[string]any, names []string) {
	orderers = map[string]any{}
	for _, o := range n.orderers() {
		orderers[o.name()] = map[string]any{
			"url":         "grpcs://" + o.Address,
			"grpcOptions": grpcOptions(o.HostOverride),
			"tlsCACerts":  map[string]string{"path": o.TLSCACert},
		}
		names = append(names, o.name())
	}
	return orderers, names
}

// profileClient is the profile's client section: a table of the SDK's
// timeouts, caches and crypto settings.
func profileClient(org, logLevel string) map[string]any {
	return map[string]any{
		"organization": org,
		"logging":      map[string]string{"level": logLevel},
		"peer": map[string]any{"timeout": map[string]any{
			"connection": "5s", "response": "120s",
			"discovery": map[string]string{"greylistExpiry": "5s"},
		}},
		"orderer":      map[string]any{"timeout": map[string]string{"connection": "3s", "response": "30s"}},
		"eventService": map[string]any{"timeout": map[string]string{"registrationResponse": "15s"}},
		"global": map[string]any{
			"timeout": map[string]string{"query": "60s", "execute": "180s", "resmgmt": "60s"},
			"cache":   map[string]string{"connectionIdle": "60s", "eventServiceIdle": "2m", "channelConfig": "30m", "channelMembership": "5m"},
		},
		"BCCSP": map[string]any{"security": map[string]any{
			"enabled": true, "default": map[string]string{"provider": "SW"},
			"hashAlgorithm": "SHA2", "softVerify": true, "level": 256,
		}},
		"tlsCerts": map[string]any{"systemCertPool": false},
	}
}

// profileChannelPolicies is how the SDK queries the channel's
// configuration and picks its event source: a table.
func profileChannelPolicies() map[string]any {
	return map[string]any{
		"queryChannelConfig": map[string]any{
			"minResponses": 1, "maxTargets": 1,
			"retryOpts": map[string]any{"attempts": 5, "initialBackoff": "500ms", "maxBackoff": "5s", "backoffFactor": 2.0},
		},
		"eventService": map[string]any{
			"resolverStrategy": "PreferOrg", "balancer": "RoundRobin",
			"blockHeightLagThreshold": 5, "reconnectBlockHeightLagThreshold": 10,
			"peerMonitorPeriod": "5s",
		},
	}
}

func grpcOptions(host string) map[string]any {
	o := map[string]any{
		"keep-alive-time": "0s", "keep-alive-timeout": "20s", "keep-alive-permit": false,
		"fail-fast": false, "allow-insecure": false,
	}
	if host != "" {
		o["ssl-target-name-override"] = host
	}
	return o
}
