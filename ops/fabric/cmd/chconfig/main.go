// Command chconfig reads a channel's configuration block and writes a config
// update of its ordering service, for the admins of the orderer orgs to sign
// (peer channel signconfigtx) and submit (peer channel update). This Fabric's
// configtxlator cannot decode a BFT channel's Orderers value, hence this tool.
//
// Usage:
//
//	chconfig show BLOCK
//	chconfig update BLOCK OUT CHANGE...
//
// CHANGE is one of
//
//	batch-size=N                        the Orderer group's BatchSize.MaxMessageCount
//	smartbft.request-batch-max-count=N  a SmartBFT option (in ConsensusType's metadata)
//	remove-consenter=ID                 drop consenter ID from the consenter mapping
//	add-consenter=ID,MSPID,HOST:PORT,IDENTITY.pem,TLS.pem
//	                                    add a consenter of an org that is in the
//	                                    Orderer group (its enrollment and TLS certificates)
//
// The update's mod_policy is the Orderer group's Admins: a majority of the
// orderer orgs' admins must sign it, or the orderers refuse it.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/golang/protobuf/proto"
	"github.com/hyperledger/fabric-config/configtx"
	cb "github.com/hyperledger/fabric-protos-go/common"
	ob "github.com/hyperledger/fabric-protos-go/orderer"
	"github.com/hyperledger/fabric-protos-go/orderer/smartbft"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "chconfig:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) < 2 {
		return fmt.Errorf("usage: chconfig show BLOCK | chconfig update BLOCK OUT CHANGE...")
	}
	cfg, channel, err := readConfig(args[1])
	if err != nil {
		return err
	}
	switch args[0] {
	case "show":
		return show(cfg, channel)
	case "update":
		if len(args) < 4 {
			return fmt.Errorf("usage: chconfig update BLOCK OUT CHANGE...")
		}
		return update(cfg, channel, args[2], args[3:])
	}
	return fmt.Errorf("unknown command %q", args[0])
}

func readConfig(path string) (*cb.Config, string, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, "", err
	}
	var block cb.Block
	if err := proto.Unmarshal(raw, &block); err != nil {
		return nil, "", fmt.Errorf("%s: not a block: %w", path, err)
	}
	if block.Data == nil || len(block.Data.Data) != 1 {
		return nil, "", fmt.Errorf("%s: not a config block", path)
	}
	var env cb.Envelope
	var pl cb.Payload
	var ch cb.ChannelHeader
	var ce cb.ConfigEnvelope
	if err := proto.Unmarshal(block.Data.Data[0], &env); err != nil {
		return nil, "", err
	}
	if err := proto.Unmarshal(env.Payload, &pl); err != nil || pl.Header == nil {
		return nil, "", fmt.Errorf("%s: bad payload: %v", path, err)
	}
	if err := proto.Unmarshal(pl.Header.ChannelHeader, &ch); err != nil {
		return nil, "", err
	}
	if ch.Type != int32(cb.HeaderType_CONFIG) {
		return nil, "", fmt.Errorf("%s: block holds a %s, not a config", path, cb.HeaderType(ch.Type))
	}
	if err := proto.Unmarshal(pl.Data, &ce); err != nil || ce.Config == nil {
		return nil, "", fmt.Errorf("%s: bad config envelope: %v", path, err)
	}
	return ce.Config, ch.ChannelId, nil
}

func ordererGroup(cfg *cb.Config) (*cb.ConfigGroup, error) {
	g := cfg.GetChannelGroup().GetGroups()["Orderer"]
	if g == nil {
		return nil, fmt.Errorf("no Orderer group")
	}
	return g, nil
}

type summary struct {
	Channel      string            `json:"channel"`
	Sequence     uint64            `json:"sequence"`
	Type         string            `json:"consensusType"`
	Orgs         []string          `json:"ordererOrgs"`
	Consenters   []consenter       `json:"consenters"`
	BatchSize    *ob.BatchSize     `json:"batchSize"`
	SmartBFT     *smartbft.Options `json:"smartBFT,omitempty"`
	AdminsPolicy string            `json:"adminsPolicy"`
}

type consenter struct {
	ID    uint32 `json:"id"`
	MSPID string `json:"mspId"`
	Addr  string `json:"address"`
}

func show(cfg *cb.Config, channel string) error {
	g, err := ordererGroup(cfg)
	if err != nil {
		return err
	}
	s := summary{Channel: channel, Sequence: cfg.Sequence}
	for name := range g.Groups {
		s.Orgs = append(s.Orgs, name)
	}
	var ct ob.ConsensusType
	if err := value(g, "ConsensusType", &ct); err != nil {
		return err
	}
	s.Type = ct.Type
	if ct.Type == "BFT" {
		s.SmartBFT = &smartbft.Options{}
		if err := proto.Unmarshal(ct.Metadata, s.SmartBFT); err != nil {
			return fmt.Errorf("SmartBFT options: %w", err)
		}
	}
	s.BatchSize = &ob.BatchSize{}
	if err := value(g, "BatchSize", s.BatchSize); err != nil {
		return err
	}
	var os cb.Orderers
	if err := value(g, "Orderers", &os); err == nil {
		for _, c := range os.ConsenterMapping {
			s.Consenters = append(s.Consenters, consenter{c.Id, c.MspId, fmt.Sprintf("%s:%d", c.Host, c.Port)})
		}
	}
	if p := g.Policies["Admins"]; p != nil && p.Policy != nil && p.Policy.Type == int32(cb.Policy_IMPLICIT_META) {
		var im cb.ImplicitMetaPolicy
		if proto.Unmarshal(p.Policy.Value, &im) == nil {
			s.AdminsPolicy = fmt.Sprintf("%s %s", im.Rule, im.SubPolicy)
		}
	}
	out, _ := json.MarshalIndent(s, "", "  ")
	fmt.Println(string(out))
	return nil
}

func value(g *cb.ConfigGroup, name string, m proto.Message) error {
	v := g.Values[name]
	if v == nil {
		return fmt.Errorf("no %s value in the Orderer group", name)
	}
	return proto.Unmarshal(v.Value, m)
}

func setValue(g *cb.ConfigGroup, name string, m proto.Message) error {
	raw, err := proto.Marshal(m)
	if err != nil {
		return err
	}
	g.Values[name].Value = raw
	return nil
}

func update(orig *cb.Config, channel, out string, changes []string) error {
	c := configtx.New(orig)
	g, err := ordererGroup(c.UpdatedConfig())
	if err != nil {
		return err
	}
	for _, ch := range changes {
		k, v, ok := strings.Cut(ch, "=")
		if !ok {
			return fmt.Errorf("change %q: want KEY=VALUE", ch)
		}
		if err := apply(g, k, v); err != nil {
			return fmt.Errorf("change %q: %w", ch, err)
		}
	}
	upd, err := c.ComputeMarshaledUpdate(channel)
	if err != nil {
		return fmt.Errorf("computing the update: %w", err)
	}
	env, err := configtx.NewEnvelope(upd)
	if err != nil {
		return err
	}
	raw, err := proto.Marshal(env)
	if err != nil {
		return err
	}
	return os.WriteFile(out, raw, 0o644)
}

// apply makes one KEY=VALUE change to the Orderer group g.
func apply(g *cb.ConfigGroup, k, v string) error {
	switch k {
	case "batch-size":
		return setBatchSize(g, v)
	case "smartbft.request-batch-max-count":
		return setRequestBatchMaxCount(g, v)
	case "remove-consenter":
		return removeConsenter(g, v)
	case "add-consenter":
		return addConsenter(g, v)
	}
	return fmt.Errorf("unknown change %q", k)
}

// setBatchSize sets BatchSize.MaxMessageCount, the most transactions a
// block holds.
func setBatchSize(g *cb.ConfigGroup, v string) error {
	n, err := strconv.ParseUint(v, 10, 32)
	if err != nil || n == 0 {
		return fmt.Errorf("a count 1.., got %q", v)
	}
	var bs ob.BatchSize
	if err := value(g, "BatchSize", &bs); err != nil {
		return err
	}
	bs.MaxMessageCount = uint32(n)
	return setValue(g, "BatchSize", &bs)
}

// setRequestBatchMaxCount sets SmartBFT's RequestBatchMaxCount, which lives
// in the consensus type's metadata, a message of its own.
func setRequestBatchMaxCount(g *cb.ConfigGroup, v string) error {
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil || n == 0 {
		return fmt.Errorf("a count 1.., got %q", v)
	}
	var ct ob.ConsensusType
	if err := value(g, "ConsensusType", &ct); err != nil {
		return err
	}
	var o smartbft.Options
	if err := proto.Unmarshal(ct.Metadata, &o); err != nil {
		return err
	}
	o.RequestBatchMaxCount = n
	if ct.Metadata, err = proto.Marshal(&o); err != nil {
		return err
	}
	return setValue(g, "ConsensusType", &ct)
}

// removeConsenter removes the consenter of id v; a consenter that is not
// there is an error, not a silent no-op.
func removeConsenter(g *cb.ConfigGroup, v string) error {
	id, err := strconv.ParseUint(v, 10, 32)
	if err != nil {
		return err
	}
	var os cb.Orderers
	if err := value(g, "Orderers", &os); err != nil {
		return err
	}
	kept := os.ConsenterMapping[:0]
	for _, c := range os.ConsenterMapping {
		if c.Id != uint32(id) {
			kept = append(kept, c)
		}
	}
	if len(kept) == len(os.ConsenterMapping) {
		return fmt.Errorf("no consenter %d", id)
	}
	os.ConsenterMapping = kept
	return setValue(g, "Orderers", &os)
}

// addConsenter adds a consenter from ID,MSPID,HOST:PORT,IDENTITY.pem,TLS.pem.
// Its org must already be in the Orderer group, and its id new; its TLS
// certificate serves as both its client and server certificate.
func addConsenter(g *cb.ConfigGroup, v string) error {
	f := strings.Split(v, ",")
	if len(f) != 5 {
		return fmt.Errorf("want ID,MSPID,HOST:PORT,IDENTITY.pem,TLS.pem")
	}
	id, err := strconv.ParseUint(f[0], 10, 32)
	if err != nil {
		return err
	}
	if g.Groups[mspOrg(g, f[1])] == nil {
		return fmt.Errorf("%s is not an org of the Orderer group: add its org first", f[1])
	}
	host, port, ok := strings.Cut(f[2], ":")
	p, perr := strconv.ParseUint(port, 10, 16)
	if !ok || perr != nil {
		return fmt.Errorf("address %q: want HOST:PORT", f[2])
	}
	ident, err := os.ReadFile(f[3])
	if err != nil {
		return err
	}
	tlsCert, err := os.ReadFile(f[4])
	if err != nil {
		return err
	}
	var os cb.Orderers
	if err := value(g, "Orderers", &os); err != nil {
		return err
	}
	for _, c := range os.ConsenterMapping {
		if c.Id == uint32(id) {
			return fmt.Errorf("consenter %d exists", id)
		}
	}
	os.ConsenterMapping = append(os.ConsenterMapping, &cb.Consenter{Id: uint32(id), Host: host, Port: uint32(p), MspId: f[1],
		Identity: ident, ClientTlsCert: tlsCert, ServerTlsCert: tlsCert})
	return setValue(g, "Orderers", &os)
}

// mspOrg is the Orderer group's org whose name is mspID (up.sh names them so).
func mspOrg(g *cb.ConfigGroup, mspID string) string {
	if _, ok := g.Groups[mspID]; ok {
		return mspID
	}
	return ""
}
