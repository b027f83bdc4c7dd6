package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"settle/adapters/console"
	"settle/adapters/postgres"
	"settle/adapters/sftp"
	"settle/approval"
	"settle/jobs"
	"settle/ledger/fabric"
	"settle/settlement"
)

func init() {
	commands = append(commands, newConsoleCmd, newUserCmd, func() *cobra.Command { return newApproveCmds()[0] },
		func() *cobra.Command { return newApproveCmds()[1] })
}

func newConsoleCmd() *cobra.Command {
	var file, listen, cert, key string
	c := &cobra.Command{
		Use:   "console [--listen ADDR] [--tls-cert F --tls-key F]",
		Short: "Serve the web console alone (settle serve also serves it when console.listen is set)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig(file)
			if err != nil {
				return usageError("config: %v", err)
			}
			// The trace needs the ledger; the rest of the console does not.
			_, noNetwork := os.Stat(cfg.Ledger.Network)
			return runWith(cmd, file, runtimeOpts{lazyLedger: noNetwork == nil, service: true}, func(r *runtime) error {
				if listen != "" {
					r.cfg.Console.Listen = listen
				}
				if cert != "" || key != "" {
					r.cfg.Console.TLSCert, r.cfg.Console.TLSKey = cert, key
				}
				if r.cfg.Console.Listen == "" {
					r.cfg.Console.Listen = "127.0.0.1:9465"
				}
				return serveConsole(cmd.Context(), r, func(addr string) { fmt.Fprintf(cmd.OutOrStdout(), "console: %s\n", addr) })
			})
		},
	}
	configFlag(c, &file)
	c.Flags().StringVar(&listen, "listen", "", "address (default console.listen, else 127.0.0.1:9465)")
	c.Flags().StringVar(&cert, "tls-cert", "", "TLS certificate (PEM); without one the console listens on loopback only")
	c.Flags().StringVar(&key, "tls-key", "", "TLS private key (PEM)")
	return c
}

// serveConsole serves the console on r.cfg.Console until ctx ends.
func serveConsole(ctx context.Context, r *runtime, ready func(url string)) error {
	cc := r.cfg.Console
	useTLS := cc.TLSCert != "" || cc.TLSKey != ""
	host, _, err := net.SplitHostPort(cc.Listen)
	if err != nil {
		return usageError("console.listen %q: %v", cc.Listen, err)
	}
	if !useTLS {
		if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
			return usageError("console.listen %s: without console.tls_cert and tls_key the console listens on loopback only", cc.Listen)
		}
	}
	cfg := console.Config{Store: r.jobs, Accounts: r.store, Archive: r.archive, Acks: r.store, Now: clock, Log: r.log.With("component", "console"), TLS: useTLS,
		LagBlocks: cc.LagBlocks,
		Approver:  r.approver(), SFTP: sftpControl{root: r.cfg.path("sftp")},
		Schedule: fmt.Sprintf("the cycle at cron %q in %s; settle serve carries on unfinished cycles every %s", r.cfg.Schedule.Cycle, r.cal.Location(), r.cfg.Schedule.Resume),
		RunCycle: func(ctx context.Context, d settlement.Date) (settlement.Cycle, error) {
			if _, err := r.jobs.EnsureCycle(ctx, d); err != nil {
				return settlement.Cycle{}, err
			}
			p := r.pipeline(nil)
			p.Lock = r.jobs.TryLock // as settle cycle run: a service may be stepping the same cycle
			return p.Run(ctx, d)
		}}
	if desk := r.gridlockDesk(); desk != nil {
		cfg.Gridlock = desk
		cfg.ResolveCycle = func(ctx context.Context, d settlement.Date) (settlement.Cycle, error) {
			p := r.pipeline(nil)
			p.Lock = r.jobs.TryLock // as settle cycle resolve
			return p.Resolve(ctx, d)
		}
	}
	if r.ledger != nil {
		tr := r.auditor()
		tr.Txs, tr.Files = r.ledger, r.jobs
		cfg.Tracer = tr
		cfg.Ledger = r.ledger
		cfg.Chain = r.chain()
	} else {
		r.log.Warn("console without the ledger: the trace page is off", "ledger.network", r.cfg.Ledger.Network)
	}
	con, err := console.New(cfg)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cc.Listen)
	if err != nil {
		return err
	}
	// No WriteTimeout: the live event stream lasts; each request has its
	// own deadline inside the console.
	srv := &http.Server{Handler: con, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute,
		MaxHeaderBytes: 16 << 10, ErrorLog: nil}
	scheme := "http"
	if useTLS {
		scheme = "https"
		pair, err := tls.LoadX509KeyPair(cc.TLSCert, cc.TLSKey)
		if err != nil {
			ln.Close()
			return usageError("console TLS: %v", err)
		}
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}
		ln = tls.NewListener(ln, srv.TLSConfig)
	}
	url := scheme + "://" + ln.Addr().String() + "/"
	r.log.Info("console listening", "url", url)
	if ready != nil {
		ready(url)
	}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	}()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// sftpControl is the running SFTP server's lockouts through its control
// socket, as settle sftp lockouts and unlock reach them.
type sftpControl struct{ root string }

func (c sftpControl) Lockouts(ctx context.Context) ([]sftp.Lockout, error) {
	return sftp.ListLockouts(ctx, c.root)
}
func (c sftpControl) Lift(ctx context.Context, source, user, by string) (int, error) {
	return sftp.LiftLockout(ctx, c.root, source, user, by)
}

// approver carries out four-eyes requests: the console's and the CLI's
// one implementation (a deferral through the pipeline, with its locks and
// the bank's notice; a replay through the bus's outbox).
func (r *runtime) approver() *console.Approver {
	a := &console.Approver{Store: r.jobs, Calendar: r.cal}
	if r.bus != nil {
		a.Poison = r.bus
	}
	a.Defer = func(ctx context.Context, d jobs.Deferral) (jobs.DeferredFile, error) {
		p := r.pipeline(nil)
		p.Lock = r.jobs.TryLock // not while a service steps the cycle
		return p.Defer(ctx, d)
	}
	return a
}

func newUserCmd() *cobra.Command {
	c := &cobra.Command{Use: "user", Short: "Console accounts"}
	var file, role string
	add := &cobra.Command{
		Use:   "add NAME --role operator|auditor|viewer",
		Short: "Create a console account; the password is read from the terminal, or the first line of standard input",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !console.ValidRole(role) {
				return usageError("--role must be operator, auditor or viewer")
			}
			pw, err := readPassword(cmd.InOrStdin(), cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			hash, err := console.HashPassword(pw)
			if err != nil {
				return usageError("%v", err)
			}
			return runWith(cmd, file, runtimeOpts{}, func(r *runtime) error {
				if err := r.store.AddConsoleUser(cmd.Context(), args[0], role, hash, clock()); err != nil {
					if errors.Is(err, postgres.ErrUserExists) {
						return &exitError{code: 1, err: err}
					}
					return fmt.Errorf("user %q: %w (a name is 2 to 32 of a-z 0-9 . _ -, starting with a letter)", args[0], err)
				}
				fmt.Fprintf(cmd.OutOrStdout(), "console user %s (%s) created\n", args[0], role)
				return nil
			})
		},
	}
	configFlag(add, &file)
	add.Flags().StringVar(&role, "role", "", "operator (acts), auditor (reads everything) or viewer (reads the cycle and breaks)")
	add.MarkFlagRequired("role")
	c.AddCommand(add)
	return c
}

// passwordLineBytesMax bounds what is read for a password.
const passwordLineBytesMax = 1024

func readPassword(in io.Reader, prompt io.Writer) (string, error) {
	if f, ok := in.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprint(prompt, "password: ")
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(prompt)
		return string(b), err
	}
	line, err := bufio.NewReaderSize(io.LimitReader(in, passwordLineBytesMax), passwordLineBytesMax).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", err
	}
	return strings.TrimRight(line, "\r\n"), nil
}

// newBreakFourEyesCmds are the CLI's side of four eyes on a write-off: the
// same store functions as the console's, so neither can bypass the rule.
func newBreakFourEyesCmds() []*cobra.Command {
	return []*cobra.Command{newWriteOffCmd(), newFourEyesApproveCmd(), newFourEyesRequestsCmd()}
}

// newWriteOffCmd is `settle breaks write-off`: a write-off requested.
func newWriteOffCmd() *cobra.Command {
	var wfile, wnote, wby string
	writeOff := &cobra.Command{
		Use:   "write-off KEY --note TEXT [--by WHO]",
		Short: "Request a break's write-off; it takes effect when another operator approves it (settle breaks approve)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if wby == "" {
				wby = operatorName()
			}
			return runWith(cmd, wfile, runtimeOpts{}, func(r *runtime) error {
				q, err := r.jobs.RequestWriteOff(cmd.Context(), args[0], wnote, wby, clock())
				if err != nil {
					return fourEyesError(err)
				}
				fmt.Fprintf(cmd.OutOrStdout(), "request %d: write off %s, by %s; waits for another operator: settle approve %d\n", q.ID, q.Subject, q.RequestedBy, q.ID)
				return nil
			})
		},
	}
	configFlag(writeOff, &wfile)
	writeOff.Flags().StringVar(&wnote, "note", "", "why (required)")
	writeOff.Flags().StringVar(&wby, "by", "", "who asks (default: the OS user)")
	return writeOff
}

// newFourEyesApproveCmd is `approve`: another operator's request decided.
func newFourEyesApproveCmd() *cobra.Command {
	var afile, aby string
	var reject bool
	approve := &cobra.Command{
		Use:   "approve REQUEST-ID [--reject] [--by WHO]",
		Short: "Approve (or reject) another operator's request; approved, it is carried out (a write-off, a cap raise, a deferral, a replay)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := strconv.ParseInt(args[0], 10, 64)
			if err != nil || id <= 0 {
				return usageError("want a request number, as settle breaks requests shows")
			}
			if aby == "" {
				aby = operatorName()
			}
			decision := approval.Approved
			if reject {
				decision = approval.Rejected
			}
			return runWith(cmd, afile, runtimeOpts{}, func(r *runtime) error {
				q, err := r.approver().Decide(cmd.Context(), id, decision, aby, clock())
				if err != nil {
					return fourEyesError(err)
				}
				fmt.Fprintf(cmd.OutOrStdout(), "request %d %s by %s: %s of %s requested by %s\n", q.ID, q.Decision, q.DecidedBy, q.Action, q.Subject, q.RequestedBy)
				return nil
			})
		},
	}
	configFlag(approve, &afile)
	approve.Flags().BoolVar(&reject, "reject", false, "reject instead of approving")
	approve.Flags().StringVar(&aby, "by", "", "who decides (default: the OS user)")
	return approve
}

// newFourEyesRequestsCmd is `requests`: the requests waiting for a second
// operator.
func newFourEyesRequestsCmd() *cobra.Command {
	var rfile string
	var all bool
	requests := &cobra.Command{
		Use:   "requests [--all]",
		Short: "Write-off requests waiting for a second operator (--all: decided ones too)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runWith(cmd, rfile, runtimeOpts{readOnly: true}, func(r *runtime) error {
				qs, err := r.jobs.Requests(cmd.Context(), "", !all)
				if err != nil {
					return err
				}
				for _, q := range qs {
					state := "PENDING"
					if !q.Pending() {
						state = q.Decision + " by " + q.DecidedBy
					}
					subject := q.Subject
					switch {
					case q.Action == approval.Defer:
						subject += " C" + q.From + " -> C" + q.To
					case q.Amount != "":
						subject += " to " + q.Amount
					}
					fmt.Fprintf(cmd.OutOrStdout(), "%d\t%s\t%s\tby %s\t%s\t%s\n", q.ID, q.Action, subject, q.RequestedBy, state, oneLine(q.Note))
				}
				return nil
			})
		},
	}
	configFlag(requests, &rfile)
	requests.Flags().BoolVar(&all, "all", false, "decided requests too")
	return requests
}

// newApproveCmds are the four-eyes decisions at the top level, for every
// kind of request (a write-off, a cap raise): settle approve, settle
// approvals.
func newApproveCmds() []*cobra.Command {
	cmds := newBreakFourEyesCmds()
	approve, requests := cmds[1], cmds[2]
	approve.Short = "Approve (or reject) another operator's request: a break's write-off, a cap raise, a file's deferral, a money-moving replay"
	requests.Use, requests.Short = "approvals [--all]", "Requests waiting for a second operator: write-offs, cap raises, deferrals and replays (--all: decided ones too)"
	return []*cobra.Command{approve, requests}
}

// newCapRaiseCmd requests a cap raise under four eyes, as the console's
// Caps page does; settle approve decides it.
func newCapRaiseCmd() *cobra.Command {
	var file, note, by string
	c := &cobra.Command{
		Use:   "raise BIC CUR AMOUNT --note TEXT [--by WHO]",
		Short: "Request a cap raise; it takes effect when another operator approves it (settle approve)",
		Args:  cobra.ExactArgs(3),
		RunE: func(cmd *cobra.Command, args []string) error {
			cp, err := capArgs(args, false)
			if err != nil {
				return err
			}
			if by == "" {
				by = operatorName()
			}
			return runWith(cmd, file, runtimeOpts{}, func(r *runtime) error {
				q, err := r.jobs.RequestCapRaise(cmd.Context(), cp, note, by, clock())
				if err != nil {
					return fourEyesError(err)
				}
				fmt.Fprintf(cmd.OutOrStdout(), "request %d: raise the cap of %s to %s, by %s; waits for another operator: settle approve %d\n", q.ID, q.Subject, q.Amount, q.RequestedBy, q.ID)
				return nil
			})
		},
	}
	configFlag(c, &file)
	c.Flags().StringVar(&note, "note", "", "why (required)")
	c.Flags().StringVar(&by, "by", "", "who asks (default: the OS user)")
	return c
}

// fourEyesError makes a refusal by the rule an exit status 1 with its
// message, as the console shows it.
func fourEyesError(err error) error {
	for _, e := range []error{approval.ErrSameOperator, approval.ErrDecided, approval.ErrNoteRequired, approval.ErrActor, approval.ErrDecision,
		postgres.ErrPendingAlready, postgres.ErrNoBreak, postgres.ErrBreakState, postgres.ErrNoRequest, postgres.ErrNotRaise, postgres.ErrNoBank,
		postgres.ErrReplayed, postgres.ErrCapSet, jobs.ErrDeferral, console.ErrNoPoison, console.ErrStaleReplay, console.ErrUnavailable} {
		if errors.Is(err, e) {
			return &exitError{code: 1, err: err}
		}
	}
	return err
}

// chain is the console's view of the channel over the runtime's ledger
// client (nil without a ledger).
func (r *runtime) chain() console.Chain {
	switch {
	case r.lazy != nil:
		return lazyChain{r.lazy}
	case r.fabric != nil:
		return r.fabric
	}
	return nil
}

// lazyChain reads the channel through the lazily connected client; while
// it is not connected, the page says why.
type lazyChain struct{ l *lazyLedger }

func (c lazyChain) PeerHeights(ctx context.Context) []jobs.PeerHeight {
	fc, err := c.l.get(ctx)
	if err != nil {
		return []jobs.PeerHeight{{Peer: "the network", MSP: "-", Err: err.Error()}}
	}
	return fc.PeerHeights(ctx)
}

func (c lazyChain) RecentBlocks(ctx context.Context, n int) ([]jobs.LedgerBlock, error) {
	return with(ctx, c.l, func(fc *fabric.Client) ([]jobs.LedgerBlock, error) { return fc.RecentBlocks(ctx, n) })
}
