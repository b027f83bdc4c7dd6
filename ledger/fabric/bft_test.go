package fabric

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// scriptOut runs one of ops/fabric's scripts on the test network and returns
// its standard output (the log goes to stderr).
func scriptOut(t *testing.T, timeout time.Duration, name string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(filepath.Join(fabricDir, name), args...)
	cmd.Env = append(envWithout(os.Environ(), "FABRIC_BASE_PORT"), "FABRIC_NETWORK_DIR="+networkDir, "FABRIC_PORT_BLOCK="+portBlock,
		"FABRIC_BANKS=3", "FABRIC_CHAINCODE_EXTRA="+govChaincode, "FABRIC_BASE_PORT="+basePort)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		return "", err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			return stdout.String(), fmt.Errorf("%s %v: %w\n%s", name, args, err, stderr.String())
		}
		return stdout.String(), nil
	case <-time.After(timeout):
		cmd.Process.Kill()
		<-done
		return stdout.String(), fmt.Errorf("%s %v: timed out after %s\n%s", name, args, timeout, stderr.String())
	}
}

type ordererConfig struct {
	Sequence   uint64   `json:"sequence"`
	Type       string   `json:"consensusType"`
	Orgs       []string `json:"ordererOrgs"`
	Consenters []struct {
		ID    int    `json:"id"`
		MSPID string `json:"mspId"`
	} `json:"consenters"`
	BatchSize struct {
		MaxMessageCount int `json:"max_message_count"`
	} `json:"batchSize"`
	SmartBFT struct {
		RequestBatchMaxCount int `json:"request_batch_max_count"`
	} `json:"smartBFT"`
	AdminsPolicy string `json:"adminsPolicy"`
}

func showConfig(t *testing.T) ordererConfig {
	t.Helper()
	out, err := scriptOut(t, 2*time.Minute, "config-update.sh", "show")
	if err != nil {
		t.Fatal(err)
	}
	var c ordererConfig
	if err := json.Unmarshal([]byte(out), &c); err != nil {
		t.Fatalf("config-update.sh show: %v\n%s", err, out)
	}
	return c
}

// TestOrdererConfigNeedsAMajority: the ordering service is BFT with one
// orderer per member (the operator's and each bank's, 4 here), and its part
// of the channel configuration changes only with a majority of the orderer
// orgs' admins (3 of 4). One org's admin, and then two (a minority that
// could not order on its own either), try to change the consenters, the
// batch size and a SmartBFT option, and the orderers refuse each; signed by
// three, the batch size change is taken.
func TestOrdererConfigNeedsAMajority(t *testing.T) {
	n := need(t)
	before := showConfig(t)
	if before.Type != "BFT" || len(before.Consenters) != len(n.Banks)+1 || len(before.Orgs) != len(n.Banks)+1 || before.AdminsPolicy != "MAJORITY Admins" {
		t.Fatalf("ordering config %+v; want BFT, one consenter and org per bank and the operator, MAJORITY Admins", before)
	}
	if len(n.Orderers) != len(before.Consenters) || n.Quorum() != 3 || n.Faults() != 1 {
		t.Fatalf("network.json lists %d orderers (quorum %d, f %d); the channel %d consenters", len(n.Orderers), n.Quorum(), n.Faults(), len(before.Consenters))
	}
	dir := t.TempDir()
	changes := []string{
		"remove-consenter=4",
		fmt.Sprintf("batch-size=%d", before.BatchSize.MaxMessageCount-1),
		fmt.Sprintf("smartbft.request-batch-max-count=%d", before.SmartBFT.RequestBatchMaxCount-1),
	}
	for i, ch := range changes {
		f := filepath.Join(dir, fmt.Sprintf("u%d.tx", i))
		if _, err := scriptOut(t, 2*time.Minute, "config-update.sh", "propose", f, ch); err != nil {
			t.Fatal(err)
		}
		// One org: bank 1's orderer org alone.
		_, err := scriptOut(t, 2*time.Minute, "config-update.sh", "submit", f, "1")
		if err == nil || !strings.Contains(err.Error(), "1 sub-policies were satisfied, but this policy requires 3 of the 'Admins' sub-policies") {
			t.Fatalf("%s signed by one orderer org: %v; want refused by the Admins policy", ch, err)
		}
		// Two orgs: the operator's and bank 1's.
		if _, err := scriptOut(t, time.Minute, "config-update.sh", "sign", f, "0"); err != nil {
			t.Fatal(err)
		}
		_, err = scriptOut(t, 2*time.Minute, "config-update.sh", "submit", f, "1")
		if err == nil || !strings.Contains(err.Error(), "2 sub-policies were satisfied, but this policy requires 3 of the 'Admins' sub-policies") {
			t.Fatalf("%s signed by two orderer orgs: %v; want refused by the Admins policy", ch, err)
		}
		t.Logf("%s: refused with one and with two orgs' signatures", ch)
	}
	if after := showConfig(t); after.Sequence != before.Sequence || len(after.Consenters) != len(before.Consenters) ||
		after.BatchSize != before.BatchSize || after.SmartBFT != before.SmartBFT {
		t.Fatalf("config changed by refused updates: %+v, was %+v", after, before)
	}
	// A majority: the operator's, bank 1's and bank 2's orderer orgs.
	f := filepath.Join(dir, "majority.tx")
	want := before.BatchSize.MaxMessageCount - 1
	if _, err := scriptOut(t, 2*time.Minute, "config-update.sh", "propose", f, fmt.Sprintf("batch-size=%d", want)); err != nil {
		t.Fatal(err)
	}
	for _, o := range []string{"0", "2"} {
		if _, err := scriptOut(t, time.Minute, "config-update.sh", "sign", f, o); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := scriptOut(t, 2*time.Minute, "config-update.sh", "submit", f, "1"); err != nil {
		t.Fatalf("batch size signed by three of four orderer orgs: %v", err)
	}
	var after ordererConfig
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(time.Second) {
		if after = showConfig(t); after.Sequence > before.Sequence || time.Now().After(deadline) {
			break
		}
	}
	if after.Sequence != before.Sequence+1 || after.BatchSize.MaxMessageCount != want {
		t.Fatalf("after the majority's update: %+v; want sequence %d, batch size %d", after, before.Sequence+1, want)
	}
	// The ledger goes on.
	if _, err := newClient(t, 1).Ping(testCtx(t, 2*time.Minute)); err != nil {
		t.Fatalf("ping after the config update: %v", err)
	}
}
