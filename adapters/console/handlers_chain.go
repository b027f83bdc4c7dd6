package console

import (
	"net/http"
	"strconv"
	"strings"

	"settle/jobs"
)

// Limits of the Ledger page.
const (
	chainBlocksShown = 10 // blocks shown unless ?blocks= says otherwise
	chainBlocksMax   = 50
)

type peerRow struct {
	jobs.PeerHeight
	Behind uint64 // blocks behind the highest peer
	Lags   bool   // behind by more than LagBlocks, or did not answer
}

type chainTx struct {
	Block uint64
	jobs.BlockTx
}

type chainData struct {
	Available bool
	Peers     []peerRow
	Highest   uint64
	LagBlocks int
	Lagging   []peerRow
	Blocks    int // how many were asked for
	Txs       []chainTx
	Foreign   []chainTx
	Problem   string
}

// chainPage is the channel as its peers hold it: each peer's height, with
// a warning when one lags by more than console.lag_blocks or does not
// answer; the last blocks' transactions with their submitter and endorsers
// read from the blocks' bytes; and, flagged, the transactions of the
// settlement's chaincode that the service's identity did not sign. Nothing
// on it comes from Postgres.
func (s *Server) chainPage(w http.ResponseWriter, r *http.Request, sess *session) {
	d := chainData{Available: s.cfg.Chain != nil, LagBlocks: s.cfg.LagBlocks, Blocks: chainBlocksShown}
	if v := r.URL.Query().Get("blocks"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > chainBlocksMax {
			s.fail(w, r, sess, http.StatusBadRequest, "blocks: want 1 to %d", chainBlocksMax)
			return
		}
		d.Blocks = n
	}
	if d.Available {
		for _, h := range s.cfg.Chain.PeerHeights(r.Context()) {
			d.Highest = max(d.Highest, h.Height)
			d.Peers = append(d.Peers, peerRow{PeerHeight: h})
		}
		for i := range d.Peers {
			p := &d.Peers[i]
			if p.Err == "" {
				p.Behind = d.Highest - p.Height
			}
			p.Lags = p.Err != "" || p.Behind > uint64(s.cfg.LagBlocks)
			if p.Lags {
				d.Lagging = append(d.Lagging, *p)
			}
		}
		bs, err := s.cfg.Chain.RecentBlocks(r.Context(), d.Blocks)
		if err != nil {
			if r.Context().Err() != nil {
				return
			}
			d.Problem = "the blocks could not be read from the peers: " + err.Error()
		}
		for _, b := range bs {
			for _, t := range b.Txs {
				ct := chainTx{Block: b.Number, BlockTx: t}
				d.Txs = append(d.Txs, ct)
				if t.Foreign {
					d.Foreign = append(d.Foreign, ct)
				}
			}
		}
	}
	if r.URL.Query().Get("format") == "csv" {
		if r.URL.Query().Get("table") == "peers" {
			var rows [][]string
			for _, p := range d.Peers {
				rows = append(rows, []string{p.MSP, p.Peer, strconv.FormatUint(p.Height, 10), strconv.FormatUint(p.Behind, 10), strconv.FormatBool(p.Lags), p.Err})
			}
			csvResponse(w, "ledger-peers.csv", []string{"msp", "peer", "height", "behind", "lags", "error"}, rows)
			return
		}
		var rows [][]string
		for _, t := range d.Txs {
			rows = append(rows, []string{strconv.FormatUint(t.Block, 10), t.ID, t.Code, t.Chaincode, t.Function, t.Submitter,
				strings.Join(t.Endorsers, " "), strconv.FormatBool(t.Foreign)})
		}
		csvResponse(w, "ledger-blocks.csv", []string{"block", "tx_id", "validation", "chaincode", "function", "submitter", "endorsers", "not_submitted_by_service"}, rows)
		return
	}
	s.render(w, sess, http.StatusOK, "chain", "Ledger", d, false)
}
