package main

import (
	"bytes"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/shopspring/decimal"
	"github.com/spf13/cobra"

	"settle/formats/agentcamt"
	"settle/settlement"
	"settle/signature"
)

// The settlement agent simulator of the demo (`settle agent-sim`): it
// plays the central bank's RTGS. It is not part of the scheme: it reads
// the instructions the scheme wrote (fetched from the agent's outbox
// over SFTP by the demo, as a real agent would), checks the scheme's
// signature on each, "books" them, and writes its answer, a camt.054.001.08
// of the settlement account signed with the agent's own key, to upload
// into the agent's inbox. Faults on request: one instruction booked with
// a wrong amount, one left unanswered.

// simInstruction is what the simulator reads of a pacs.009 transfer.
type simInstruction struct {
	E2E  string `xml:"PmtId>EndToEndId"`
	UETR string `xml:"PmtId>UETR"`
	Amt  struct {
		Ccy   string `xml:"Ccy,attr"`
		Value string `xml:",chardata"`
	} `xml:"IntrBkSttlmAmt"`
	Date string `xml:"IntrBkSttlmDt"`
	Cdtr string `xml:"Cdtr>FinInstnId>BICFI"`
}

type simMessage struct {
	MsgID string           `xml:"FICdtTrf>GrpHdr>MsgId"`
	Date  string           `xml:"FICdtTrf>GrpHdr>IntrBkSttlmDt"`
	Txs   []simInstruction `xml:"FICdtTrf>CdtTrfTxInf"`
}

// simInstructionBytesMax bounds one instruction file the simulator reads.
const simInstructionBytesMax = 16 << 20

type agentSim struct {
	In, Out    string
	Scheme     settlement.BIC // the settlement account's owner: Cdtr of a pay-in
	Account    string
	Key        ed25519.PrivateKey
	SchemeKeys []ed25519.PublicKey
	// Faults, by the 1-based index of a transfer among all those read in
	// one run (file name order, then document order); 0: none.
	WrongAmount int // booked one minor unit too high
	Skip        int // left unanswered
	Now         time.Time
}

// run answers every instruction file of In not answered yet; it returns
// the names of the answers written.
func (s *agentSim) run() ([]string, error) {
	files, err := filepath.Glob(filepath.Join(s.In, "*.pacs009.xml"))
	if err != nil {
		return nil, err
	}
	sort.Strings(files)
	var written []string
	seen := 0 // transfers read so far, across files: the faults' index
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".pacs009.xml") + ".camt054.xml"
		if _, err := os.Stat(filepath.Join(s.Out, name)); err == nil {
			continue // answered in an earlier run
		}
		body, err := readBounded(f, simInstructionBytesMax)
		if err != nil {
			return written, err
		}
		if err := s.checkSchemeSig(f, body); err != nil {
			return written, err
		}
		var m simMessage
		if err := xml.Unmarshal(body, &m); err != nil {
			return written, fmt.Errorf("%s: %w", f, err)
		}
		n := agentcamt.Notification{MsgID: "SIM-" + strings.TrimSuffix(name, ".camt054.xml"), Created: s.Now, Account: s.Account}
		if len(n.MsgID) > 35 {
			n.MsgID = n.MsgID[:35]
		}
		for _, tx := range m.Txs {
			seen++
			if seen == s.Skip {
				continue
			}
			cur, err := settlement.ParseCurrency(tx.Amt.Ccy)
			if err != nil {
				return written, err
			}
			amt, err := decimal.NewFromString(strings.TrimSpace(tx.Amt.Value))
			if err != nil {
				return written, err
			}
			if seen == s.WrongAmount {
				amt = amt.Add(decimal.New(1, -int32(cur.MinorUnit()))) // one minor unit too much
			}
			date := tx.Date
			if date == "" {
				date = m.Date
			}
			n.Bookings = append(n.Bookings, agentcamt.Booking{EndToEndID: tx.E2E, UETR: tx.UETR, Amount: amt, Currency: cur,
				Credit: tx.Cdtr == string(s.Scheme), Status: "BOOK", ValueDate: settlement.Date(date)})
		}
		var buf bytes.Buffer
		if err := agentcamt.WriteNotification(&buf, n); err != nil {
			return written, err
		}
		sig := base64.StdEncoding.EncodeToString(ed25519.Sign(s.Key, buf.Bytes())) + "\n"
		if err := os.WriteFile(filepath.Join(s.Out, name), buf.Bytes(), 0o640); err != nil {
			return written, err
		}
		if err := os.WriteFile(filepath.Join(s.Out, name+".sig"), []byte(sig), 0o640); err != nil {
			return written, err
		}
		written = append(written, name)
	}
	return written, nil
}

// checkSchemeSig: an instruction is executed only if the scheme signed it.
func (s *agentSim) checkSchemeSig(file string, body []byte) error {
	if len(s.SchemeKeys) == 0 {
		return nil
	}
	raw, err := readBounded(file+".sig", signature.SigBytesMax)
	if err != nil {
		return fmt.Errorf("%s: no scheme signature: %w", file, err)
	}
	sig, err := signature.DecodeSig(raw)
	if err != nil {
		return fmt.Errorf("%s.sig: %w", file, err)
	}
	for _, k := range s.SchemeKeys {
		if ed25519.Verify(k, body, sig) {
			return nil
		}
	}
	return fmt.Errorf("%s: not signed by the scheme's keys: refused", file)
}

func readBounded(file string, max int64) ([]byte, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("%s: more than %d bytes", file, max)
	}
	return b, nil
}

func readEd25519Private(file string) (ed25519.PrivateKey, error) {
	b, err := readBounded(file, 16<<10)
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(b)
	if block == nil {
		return nil, errors.New(file + ": not PEM")
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	priv, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, errors.New(file + ": not an Ed25519 key")
	}
	return priv, nil
}

func newAgentSimCmd() *cobra.Command {
	var s agentSim
	var keyFile, scheme string
	c := &cobra.Command{
		Use:   "agent-sim --in DIR --out DIR --key AGENT.key --account ACCOUNT [--wrong-amount N] [--skip N]",
		Short: "The demo's settlement agent SIMULATOR: books the scheme's pacs.009 instructions and answers with a signed camt.054",
		Long: `A simulator of the settlement agent for the demo and tests, not part of the
scheme. It reads every <cycle>.<currency>.pacs009.xml in --in (fetched from the
agent's outbox over SFTP), checks the scheme's signature with the
scheme.<label>.pem files beside it, books each transfer, and writes
<cycle>.<currency>.camt054.xml and its .sig (the agent's key, --key, a PKCS#8
Ed25519 PEM) into --out, to upload into the agent's inbox. --wrong-amount N
books the N-th transfer read in this run (files in name order) one minor unit
too high; --skip N leaves the N-th unanswered.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if s.In == "" || s.Out == "" || keyFile == "" || s.Account == "" {
				return usageError("--in, --out, --key and --account are required")
			}
			var err error
			if s.Key, err = readEd25519Private(keyFile); err != nil {
				return usageError("--key: %v", err)
			}
			if s.Scheme, err = settlement.ParseBIC(scheme); err != nil {
				return usageError("--scheme: %v", err)
			}
			pems, _ := filepath.Glob(filepath.Join(s.In, "scheme.*.pem"))
			for _, p := range pems {
				b, err := readBounded(p, 16<<10)
				if err != nil {
					return err
				}
				k, err := signature.ParsePublicKey(b)
				if err != nil {
					return fmt.Errorf("%s: %w", p, err)
				}
				if ek, ok := k.(ed25519.PublicKey); ok {
					s.SchemeKeys = append(s.SchemeKeys, ek)
				}
			}
			if len(s.SchemeKeys) == 0 {
				return fmt.Errorf("no scheme.<label>.pem in %s: the simulator executes only what the scheme signed", s.In)
			}
			s.Now = clock()
			if err := os.MkdirAll(s.Out, 0o750); err != nil {
				return err
			}
			written, err := s.run()
			for _, w := range written {
				fmt.Fprintln(cmd.OutOrStdout(), w)
			}
			return err
		},
	}
	c.Flags().StringVar(&s.In, "in", "", "folder of the instructions (and the scheme's PEMs)")
	c.Flags().StringVar(&s.Out, "out", "", "folder to write the answers into")
	c.Flags().StringVar(&keyFile, "key", "", "the agent's signing key (PKCS#8 PEM, Ed25519)")
	c.Flags().StringVar(&s.Account, "account", "", "the scheme's settlement account at the agent")
	c.Flags().StringVar(&scheme, "scheme", defaultSchemeBIC, "the scheme's BIC (owner of the settlement account)")
	c.Flags().IntVar(&s.WrongAmount, "wrong-amount", 0, "book the N-th transfer of this run one minor unit too high")
	c.Flags().IntVar(&s.Skip, "skip", 0, "leave the N-th transfer of this run unanswered")
	return c
}

func init() { commands = append(commands, newAgentSimCmd) }
