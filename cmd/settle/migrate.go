package main

import (
	"context"
	"fmt"
	"os"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"settle/adapters/events"
	"settle/adapters/postgres"
)

func init() { commands = append(commands, newMigrateCmd, newBankCmd) }

// dbTimeout bounds one administrative command's work on the database.
const dbTimeout = 10 * time.Minute

// addDatabaseFlag adds --database, defaulting to $DATABASE_URL.
func addDatabaseFlag(c *cobra.Command, dsn *string) {
	c.PersistentFlags().StringVar(dsn, "database", "", "Postgres URL (default $DATABASE_URL)")
}

// openStore opens the store named by --database or $DATABASE_URL.
func openStore(ctx context.Context, dsn string) (*postgres.Store, error) {
	if dsn == "" {
		dsn = os.Getenv("DATABASE_URL")
	}
	if dsn == "" {
		return nil, usageError("no database: pass --database or set DATABASE_URL")
	}
	return postgres.Open(ctx, dsn)
}

// withStore runs fn with the store of --database, within dbTimeout.
func withStore(cmd *cobra.Command, dsn string, fn func(ctx context.Context, s *postgres.Store) error) error {
	ctx, cancel := context.WithTimeout(cmd.Context(), dbTimeout)
	defer cancel()
	s, err := openStore(ctx, dsn)
	if err != nil {
		return err
	}
	defer s.Close()
	return fn(ctx, s)
}

func newMigrateCmd() *cobra.Command {
	var dsn string
	c := &cobra.Command{
		Use:   "migrate up|status",
		Short: "Apply or list the Postgres schema migrations",
		Long: `Apply the schema migrations embedded in this binary (migrate up), or list
them with what is applied (migrate status). Safe to run twice and from two
instances at once; an applied migration whose file has changed is an error.`,
	}
	addDatabaseFlag(c, &dsn)
	c.AddCommand(&cobra.Command{
		Use:   "up",
		Short: "Apply every pending migration",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withStore(cmd, dsn, func(ctx context.Context, s *postgres.Store) error {
				done, err := s.Migrate(ctx)
				if err != nil {
					return err
				}
				// The event outbox's tables (watermill's, one per topic) are
				// schema too: made here once, not at every command's start.
				if err := events.New(s.DB(), nil).Init(ctx); err != nil {
					return fmt.Errorf("event tables: %w", err)
				}
				if len(done) == 0 {
					fmt.Fprintln(cmd.OutOrStdout(), "schema is up to date")
				}
				for _, v := range done {
					fmt.Fprintf(cmd.OutOrStdout(), "applied %04d\n", v)
				}
				return nil
			})
		},
	}, &cobra.Command{
		Use:   "status",
		Short: "List migrations and whether each is applied",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withStore(cmd, dsn, func(ctx context.Context, s *postgres.Store) error {
				list, verr := s.MigrationStatus(ctx)
				if list == nil {
					return verr
				}
				tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "VERSION\tNAME\tAPPLIED\tCHECKSUM")
				for _, m := range list {
					applied := "pending"
					if m.Applied != nil {
						applied = m.Applied.AppliedAt.UTC().Format(time.RFC3339)
					}
					fmt.Fprintf(tw, "%04d\t%s\t%s\t%s\n", m.Version, m.Name, applied, m.Checksum[:12])
				}
				tw.Flush()
				return verr
			})
		},
	})
	return c
}
