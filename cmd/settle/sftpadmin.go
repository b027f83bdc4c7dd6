package main

import (
	"fmt"
	"os/user"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"settle/adapters/sftp"
)

func init() { commands = append(commands, newSftpAdminCmd) }

// sftpRoot is the storage root of the running SFTP server: --root, or the
// sftp folder of the service's --config.
func sftpRoot(root, config string) (string, error) {
	if root != "" {
		return root, nil
	}
	c, err := loadConfig(config)
	if err != nil {
		return "", usageError("--config %s: %v", config, err)
	}
	return c.path("sftp"), nil
}

func newSftpAdminCmd() *cobra.Command {
	var root, config string
	top := &cobra.Command{
		Use:   "sftp",
		Short: "Operate the running SFTP server: list and lift login lockouts",
	}
	top.PersistentFlags().StringVar(&root, "root", "", "storage root of the running server (settle sftpd --root)")
	top.PersistentFlags().StringVar(&config, "config", "", "service configuration of the running settle serve (instead of --root)")
	list := &cobra.Command{
		Use:   "lockouts",
		Short: "List users locked out from a source after failed logins, and sources backing off",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			r, err := sftpRoot(root, config)
			if err != nil {
				return err
			}
			ls, err := sftp.ListLockouts(cmd.Context(), r)
			if err != nil {
				return err
			}
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "SOURCE\tUSER\tFAILURES\tUNTIL")
			for _, l := range ls {
				u := l.User
				if u == "" {
					u = "(any: source backing off)"
				}
				fmt.Fprintf(w, "%s\t%s\t%d\t%s\n", l.Source, u, l.Failures, l.Until.UTC().Format(time.RFC3339))
			}
			return w.Flush()
		},
	}
	var source, login string
	unlock := &cobra.Command{
		Use:   "unlock --source ADDRESS [--user LOGIN]",
		Short: "Lift the lockout of a user from a source (every user without --user) and the source's backoff",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if source == "" {
				return usageError("sftp unlock: --source is required")
			}
			r, err := sftpRoot(root, config)
			if err != nil {
				return err
			}
			by := "operator"
			if u, err := user.Current(); err == nil {
				by = u.Username
			}
			n, err := sftp.LiftLockout(cmd.Context(), r, source, login, by)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "lifted %d lockout(s) of %s\n", n, source)
			return nil
		},
	}
	unlock.Flags().StringVar(&source, "source", "", "source address the lockout is for")
	unlock.Flags().StringVar(&login, "user", "", "SFTP login; empty lifts every user's lockout from the source")
	top.AddCommand(list, unlock)
	return top
}
