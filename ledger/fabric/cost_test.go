package fabric

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/golang/protobuf/proto"
	"github.com/hyperledger/fabric-protos-go/common"
	"github.com/hyperledger/fabric-protos-go/ledger/rwset"
	"github.com/hyperledger/fabric-protos-go/ledger/rwset/kvrwset"
	pb "github.com/hyperledger/fabric-protos-go/peer"
	"github.com/hyperledger/fabric-sdk-go/pkg/client/ledger"
)

// What a benchmark's transactions cost the network, measured from outside
// the processes: CPU time from /proc, keys from the blocks' read-write sets,
// bytes from the peers' block files.

// clockTicks is USER_HZ, the unit of /proc/PID/stat's utime and stime: 100
// on every Linux architecture Go runs on (sysconf(_SC_CLK_TCK) is not in the
// standard library).
const clockTicks = 100

// procCPU is the user plus system CPU time process pid has used so far
// (its own threads, not its children), from /proc/PID/stat.
func procCPU(pid string) (time.Duration, error) {
	raw, err := os.ReadFile(filepath.Join("/proc", pid, "stat"))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) is in parentheses and may hold spaces:
	// the fields after it start behind the last ')'.
	s := string(raw)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%s/stat: no ')'", pid)
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%s/stat: %d fields", pid, len(f))
	}
	// f[0] is field 3 (state): utime is field 14, stime 15.
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("/proc/%s/stat: utime %q stime %q", pid, f[11], f[12])
	}
	return time.Duration(ut+st) * time.Second / clockTicks, nil
}

// networkPIDs is the network's processes by name (orderer, peerN, ccN),
// from the pid files the ops/fabric scripts write.
func networkPIDs() map[string]string {
	files, _ := filepath.Glob(filepath.Join(networkDir, "pids", "*.pid"))
	out := map[string]string{}
	for _, f := range files {
		pid, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		out[strings.TrimSuffix(filepath.Base(f), ".pid")] = strings.TrimSpace(string(pid))
	}
	return out
}

// rssOf is process pid's resident memory in bytes (0 if it cannot be read).
func rssOf(pid string) int64 {
	st, err := os.ReadFile(filepath.Join("/proc", pid, "status"))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(st), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			if f := strings.Fields(rest); len(f) > 0 {
				kb, _ := strconv.ParseInt(f[0], 10, 64)
				return kb << 10
			}
		}
	}
	return 0
}

// peakRSSEach samples every network process's RSS (and the client's, as
// "client") until stop is called and returns each one's peak.
func peakRSSEach() (stop func() map[string]int64) {
	peak := map[string]int64{}
	var mu sync.Mutex
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		for {
			pids := networkPIDs()
			pids["client"] = strconv.Itoa(os.Getpid())
			mu.Lock()
			for name, pid := range pids {
				peak[name] = max(peak[name], rssOf(pid))
			}
			mu.Unlock()
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return func() map[string]int64 {
		close(done)
		wg.Wait()
		mu.Lock()
		defer mu.Unlock()
		return peak
	}
}

// ledgerSample is the network at one moment: every process's CPU time so
// far, the chain's height (every peer at it), and each peer's block files
// and whole data folder in bytes.
type ledgerSample struct {
	cpu        map[string]time.Duration
	height     uint64
	blockBytes map[string]int64 // peerN: its channel's block files
	dataBytes  map[string]int64 // peerN: its whole data folder (blocks, state, history, indexes)
}

// sampleLedger waits until every peer has committed as many blocks as the
// client's own peer (so that no commit work is left to be done after the
// sample), then reads the network's processes and files.
func sampleLedger(ctx context.Context, c *Client) (ledgerSample, error) {
	s := ledgerSample{cpu: map[string]time.Duration{}, blockBytes: map[string]int64{}, dataBytes: map[string]int64{}}
	h, err := waitAllPeers(ctx, c)
	if err != nil {
		return s, err
	}
	s.height = h
	pids := networkPIDs()
	pids["client"] = strconv.Itoa(os.Getpid())
	for name, pid := range pids {
		t, err := procCPU(pid)
		if err != nil {
			return s, fmt.Errorf("%s: %w", name, err)
		}
		s.cpu[name] = t
	}
	for name := range pids {
		if !strings.HasPrefix(name, "peer") {
			continue
		}
		data := filepath.Join(networkDir, "data", name)
		s.dataBytes[name] = dirBytes(data)
		s.blockBytes[name] = dirBytes(filepath.Join(data, "ledgersData", "chains", "chains", c.net.Channel))
	}
	return s, nil
}

// waitAllPeers waits until every peer holds the client's last write and
// as many blocks as the client's own peer, and returns that height. A
// client with pinned endorsers needs it before a SettleCycle: its endorsers
// may not have committed the last chunks yet, and it takes their refusal
// as the answer.
func waitAllPeers(ctx context.Context, c *Client) (uint64, error) {
	h, err := c.height(ctx, c.peers[0])
	if err != nil {
		return 0, err
	}
	c.mu.Lock()
	h = max(h, c.written+1)
	c.mu.Unlock()
	for _, e := range c.peers {
		if _, err := waitHeight(ctx, h, func(ctx context.Context) (uint64, error) { return c.height(ctx, e) }, time.Minute, 50*time.Millisecond); err != nil {
			return 0, fmt.Errorf("%s: %w", e.bank.MSPID, err)
		}
	}
	return h, nil
}

// dirBytes is the size of the files under dir.
func dirBytes(dir string) int64 {
	var n int64
	filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}

// ledgerCost is what the transactions between two samples cost.
type ledgerCost struct {
	payments   int
	wall       time.Duration
	cpu        map[string]time.Duration
	blocks     int
	txs        int            // valid endorser transactions of the chaincode
	endorsed   map[string]int // transactions each MSP endorsed
	keys       int            // state keys written in the chaincode's namespace
	reads      int            // state keys read in it
	txBytes    int64          // the transactions' envelopes
	blockBytes int64          // growth of one peer's block files
	dataBytes  int64          // growth of one peer's data folder
	peakRSS    map[string]int64
}

// measureCost reads the blocks committed between before and after from the
// client's own peer and adds up what the transactions wrote.
func measureCost(ctx context.Context, c *Client, before, after ledgerSample, payments int, wall time.Duration) (ledgerCost, error) {
	lc := ledgerCost{payments: payments, wall: wall, cpu: map[string]time.Duration{}, endorsed: map[string]int{}}
	for name, t := range after.cpu {
		lc.cpu[name] = t - before.cpu[name]
	}
	lc.blockBytes = after.blockBytes["peer1"] - before.blockBytes["peer1"]
	lc.dataBytes = after.dataBytes["peer1"] - before.dataBytes["peer1"]
	lc.blocks = int(after.height - before.height)
	for num := before.height; num < after.height; num++ {
		qctx, cancel := context.WithTimeout(ctx, queryTimeout)
		b, err := c.ledger.QueryBlock(num, ledger.WithTargets(c.peers[0].peer), ledger.WithParentContext(qctx))
		cancel()
		if err != nil {
			return lc, fmt.Errorf("block %d: %w", num, err)
		}
		var filter []byte
		if md := b.GetMetadata().GetMetadata(); len(md) > int(common.BlockMetadataIndex_TRANSACTIONS_FILTER) {
			filter = md[common.BlockMetadataIndex_TRANSACTIONS_FILTER]
		}
		for i, raw := range b.GetData().GetData() {
			if i >= len(filter) || pb.TxValidationCode(filter[i]) != pb.TxValidationCode_VALID {
				continue
			}
			_, actions, err := envelopeActions(raw)
			if err != nil {
				return lc, fmt.Errorf("block %d tx %d: %w", num, i, err)
			}
			for _, a := range actions {
				var prp pb.ProposalResponsePayload
				if err := proto.Unmarshal(a.GetAction().GetProposalResponsePayload(), &prp); err != nil {
					return lc, err
				}
				var ca pb.ChaincodeAction
				if err := proto.Unmarshal(prp.Extension, &ca); err != nil {
					return lc, err
				}
				if ca.GetChaincodeId().GetName() != c.net.Chaincode {
					continue
				}
				var rws rwset.TxReadWriteSet
				if err := proto.Unmarshal(ca.Results, &rws); err != nil {
					return lc, err
				}
				for _, ns := range rws.NsRwset {
					if ns.Namespace != c.net.Chaincode {
						continue
					}
					var kv kvrwset.KVRWSet
					if err := proto.Unmarshal(ns.Rwset, &kv); err != nil {
						return lc, err
					}
					lc.keys += len(kv.Writes)
					lc.reads += len(kv.Reads)
				}
				lc.txs++
				lc.txBytes += int64(len(raw))
				for _, e := range a.GetAction().GetEndorsements() {
					lc.endorsed[mspOf(e.Endorser)]++
				}
			}
		}
	}
	return lc, nil
}

// add sums another run's cost into lc.
func (lc *ledgerCost) add(o ledgerCost) {
	if lc.cpu == nil {
		lc.cpu, lc.endorsed = map[string]time.Duration{}, map[string]int{}
	}
	lc.payments += o.payments
	lc.wall += o.wall
	for k, v := range o.cpu {
		lc.cpu[k] += v
	}
	for k, v := range o.endorsed {
		lc.endorsed[k] += v
	}
	lc.txs += o.txs
	lc.blocks += o.blocks
	lc.keys += o.keys
	lc.reads += o.reads
	lc.txBytes += o.txBytes
	lc.blockBytes += o.blockBytes
	lc.dataBytes += o.dataBytes
}

func (lc *ledgerCost) totalCPU() time.Duration {
	var t time.Duration
	for _, v := range lc.cpu {
		t += v
	}
	return t
}

// perK is CPU-seconds per 1,000 payments.
func (lc *ledgerCost) perK(t time.Duration) float64 {
	return t.Seconds() * 1000 / float64(lc.payments)
}

// table is the cost in words and figures: one line a process, then each
// bank's peer and chaincode server together beside the share of the
// transactions it endorsed, and the split of that into the cost of
// endorsing and of committing when the shares differ.
func (lc *ledgerCost) table(n *Network, pinned []int, every bool) string {
	var b strings.Builder
	mode := fmt.Sprintf("a majority (%d of %d), in turn", n.Majority(), len(n.Banks))
	switch {
	case len(pinned) > 0:
		mode = fmt.Sprintf("pinned to banks %v", pinned)
	case every:
		mode = "every peer (EndorseAll)"
	}
	fmt.Fprintf(&b, "ledger stage: %d payments, %d banks, %d transactions in %d blocks, endorsers: %s; %d cores, load average %s\n",
		lc.payments, len(n.Banks), lc.txs, lc.blocks, mode, runtime.NumCPU(), loadAvg())
	fmt.Fprintf(&b, "wall %.1f s: %.0f payments/s (noise on a shared machine; CPU time is the figure)\n",
		lc.wall.Seconds(), float64(lc.payments)/lc.wall.Seconds())
	fmt.Fprintf(&b, "%-10s %28s %12s\n", "process", "CPU-s per 1,000 payments", "peak RSS MB")
	names := make([]string, 0, len(lc.cpu))
	for k := range lc.cpu {
		names = append(names, k)
	}
	order := func(s string) string { // orderer, peer1, cc1, peer2, cc2, ..., client
		switch {
		case strings.HasPrefix(s, "orderer"):
			return "0" + s
		case s == "client":
			return "9"
		case strings.HasPrefix(s, "peer"):
			return fmt.Sprintf("1%03s0", s[4:])
		case strings.HasPrefix(s, "cc"):
			return fmt.Sprintf("1%03s1", s[2:])
		}
		return "8" + s
	}
	sort.Slice(names, func(i, j int) bool { return order(names[i]) < order(names[j]) })
	for _, k := range names {
		fmt.Fprintf(&b, "%-10s %28.3f %12.0f\n", k, lc.perK(lc.cpu[k]), float64(lc.peakRSS[k])/(1<<20))
	}
	tot := lc.totalCPU()
	fmt.Fprintf(&b, "%-10s %28.3f   (= CPU-ms per payment; target 0.08)\n", "total", lc.perK(tot))
	fmt.Fprintf(&b, "state keys written per payment %.3f (read %.3f); transaction bytes per payment %.0f; block files grew %.0f bytes per payment (a peer's whole data folder %.0f)\n",
		float64(lc.keys)/float64(lc.payments), float64(lc.reads)/float64(lc.payments),
		float64(lc.txBytes)/float64(lc.payments), float64(lc.blockBytes)/float64(lc.payments), float64(lc.dataBytes)/float64(lc.payments))
	// Per bank: its peer and its chaincode server, beside the share of the
	// transactions its peer endorsed.
	type bank struct {
		name  string
		share float64
		cost  float64 // CPU-ms per payment, peer + chaincode server
	}
	var banks []bank
	for _, bk := range n.Banks {
		i := strconv.Itoa(bk.Index)
		share := 0.0
		if lc.txs > 0 {
			share = float64(lc.endorsed[bk.MSPID]) / float64(lc.txs)
		}
		banks = append(banks, bank{bk.MSPID, share, lc.perK(lc.cpu["peer"+i] + lc.cpu["cc"+i])})
	}
	fmt.Fprintf(&b, "%-10s %18s %26s\n", "bank", "share endorsed", "peer+cc CPU-ms/payment")
	for _, bk := range banks {
		fmt.Fprintf(&b, "%-10s %18.2f %26.3f\n", bk.name, bk.share, bk.cost)
	}
	// Two groups of shares (pinned endorsers): a bank that endorses every
	// transaction against one that endorses none.
	lo, hi := slices.MinFunc(banks, func(x, y bank) int { return cmpF(x.share, y.share) }).share, slices.MaxFunc(banks, func(x, y bank) int { return cmpF(x.share, y.share) }).share
	if hi-lo > 0.5 {
		var clo, chi float64
		var nlo, nhi int
		for _, bk := range banks {
			if bk.share-lo < 0.05 {
				clo += bk.cost
				nlo++
			} else if hi-bk.share < 0.05 {
				chi += bk.cost
				nhi++
			}
		}
		clo, chi = clo/float64(nlo), chi/float64(nhi)
		slope := (chi - clo) / (hi - lo)
		fmt.Fprintf(&b, "per endorsing peer (peer + its chaincode server, endorsing every transaction): %.3f CPU-ms/payment; per committing peer: %.3f; endorsing alone: %.3f\n",
			clo+slope*(1-lo), clo-slope*lo, slope)
	}
	return b.String()
}

func cmpF(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// loadAvg is the machine's 1-, 5- and 15-minute load averages.
func loadAvg() string {
	raw, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(raw))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}
