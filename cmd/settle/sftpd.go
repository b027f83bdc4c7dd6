package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/crypto/ssh"

	"settle/adapters/sftp"
	"settle/formats"
	"settle/settlement"
)

func init() { commands = append(commands, newSftpdCmd) }

// usersFileBytesMax bounds the --banks file.
const usersFileBytesMax = 1 << 20

// sftpdUser is one entry of the --banks file:
//
//	[{"bic": "SHBKKRSE", "login": "shinhan", "authorized_keys": ["ssh-ed25519 AAAA..."]}]
//
// login defaults to the BIC; role is "bank" (default) or "collector". Keys
// may also (or only) be kept in <root>/users/<login>/authorized_keys.
type sftpdUser struct {
	BIC            string   `json:"bic"`
	Login          string   `json:"login"`
	Role           string   `json:"role"`
	AuthorizedKeys []string `json:"authorized_keys"`
}

func newSftpdCmd() *cobra.Command {
	var (
		root, listen, usersFile string
		cfg                     sftp.Config
	)
	cmd := &cobra.Command{
		Use:   "sftpd",
		Short: "Run the built-in SFTP server banks upload payment files to",
		Long: `Run the built-in SFTP server until SIGTERM or SIGINT.

Each bank logs in with its own user and SSH key and sees only its own
inbox/ (upload) and outbox/ (acknowledgements). Files live under
--root/banks/<BIC>/; the host key is created once in --root/state/.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if root == "" || usersFile == "" {
				return usageError("sftpd: --root and --banks are required")
			}
			users, err := readSftpdUsers(usersFile)
			if err != nil {
				return usageError("sftpd: --banks %s: %v", usersFile, err)
			}
			cfg.Root, cfg.Users = root, users
			cfg.Logger = slog.New(slog.NewJSONHandler(os.Stderr, nil))
			srv, err := sftp.NewServer(cfg)
			if err != nil {
				return err
			}
			ln, err := net.Listen("tcp", listen)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "listening on %s, host key %s\n", ln.Addr(), ssh.FingerprintSHA256(srv.HostKey()))
			return srv.Serve(cmd.Context(), ln)
		},
	}
	f := cmd.Flags()
	f.StringVar(&root, "root", "", "storage root (banks/, partial/, taken/, state/, users/)")
	f.StringVar(&listen, "listen", "127.0.0.1:2222", "address to listen on")
	f.StringVar(&usersFile, "banks", "", "JSON file of SFTP logins: [{\"bic\":...,\"login\":...,\"authorized_keys\":[...]}]")
	f.Int64Var(&cfg.FileBytesMax, "file-bytes-max", formats.DefaultLimits.FileBytesMax, "largest file a bank may upload (the payment-file limit)")
	f.IntVar(&cfg.InboxFilesMax, "inbox-files-max", sftp.InboxFilesMaxDefault, "files in one bank's inbox")
	f.Int64Var(&cfg.InboxBytesMax, "inbox-bytes-max", sftp.InboxBytesMaxDefault, "bytes in one bank's inbox, uploads in progress included (quota)")
	f.IntVar(&cfg.SessionsPerBankMax, "sessions-per-bank-max", sftp.SessionsPerBankMaxDefault, "concurrent sessions of one bank")
	f.IntVar(&cfg.ConnectionsMax, "connections-max", sftp.ConnectionsMaxDefault, "concurrent connections")
	f.DurationVar(&cfg.IdleTimeout, "idle-timeout", sftp.IdleTimeoutDefault, "close a connection silent this long")
	f.IntVar(&cfg.LoginFailuresMax, "login-failures-max", sftp.LoginFailuresMaxDefault, "failed logins of one user from one source before that user is locked out from it")
	f.DurationVar(&cfg.LoginFailureWindow, "login-failure-window", sftp.LoginFailureWindowDefault, "window of --login-failures-max, and lockout length")
	f.IntVar(&cfg.ConnectionsPerSourceMax, "connections-per-source-max", sftp.ConnectionsPerSourceMaxDefault, "concurrent connections of one source address")
	f.DurationVar(&cfg.HandshakeTimeout, "handshake-timeout", sftp.HandshakeTimeoutDefault, "time a connection has to log in (pre-auth deadline)")
	f.IntVar(&cfg.LoginBackoffAfter, "login-backoff-after", sftp.LoginBackoffAfterDefault, "failed logins of one source (any user) before it backs off")
	f.DurationVar(&cfg.LoginBackoffBase, "login-backoff-base", sftp.LoginBackoffBaseDefault, "first backoff of a failing source, doubled at each further failure")
	f.DurationVar(&cfg.LoginBackoffMax, "login-backoff-max", sftp.LoginBackoffMaxDefault, "longest backoff of a failing source")
	return cmd
}

func readSftpdUsers(file string) ([]sftp.User, error) {
	fh, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	b, err := io.ReadAll(io.LimitReader(fh, usersFileBytesMax+1))
	if err != nil {
		return nil, err
	}
	if len(b) > usersFileBytesMax {
		return nil, fmt.Errorf("larger than %d bytes", usersFileBytesMax)
	}
	var raw []sftpdUser
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&raw); err != nil {
		return nil, err
	}
	if len(raw) == 0 {
		return nil, errors.New("no users")
	}
	var users []sftp.User
	for i, r := range raw {
		bic, err := settlement.ParseBIC(r.BIC)
		if err != nil {
			return nil, fmt.Errorf("user %d: %w", i+1, err)
		}
		u := sftp.User{Login: r.Login, Bank: bic}
		switch r.Role {
		case "", "bank":
		case "collector":
			u.Role = sftp.RoleCollector
		default:
			return nil, fmt.Errorf("user %d: role %q: want bank or collector", i+1, r.Role)
		}
		for _, k := range r.AuthorizedKeys {
			pk, _, _, _, err := ssh.ParseAuthorizedKey([]byte(k))
			if err != nil {
				return nil, fmt.Errorf("user %d: key: %w", i+1, err)
			}
			u.AuthorizedKeys = append(u.AuthorizedKeys, pk)
		}
		users = append(users, u)
	}
	return users, nil
}
