package fabric

import (
	"context"
	"fmt"

	"settle/jobs"
)

// ResolveCycle is the operator settling a held cycle with the ledger's
// gridlock resolution in one step (ResolveCycle): the ledger computes what
// settles and what is deferred; the answer is the chaincode's SettleResult.
func (c *Client) ResolveCycle(ctx context.Context, cycle string) ([]byte, jobs.LedgerTx, error) {
	payload, tx, err := c.Submit(ctx, alreadyDone("outcome", "already_settled"), "ResolveCycle", cycle)
	if err != nil {
		return nil, jobs.LedgerTx{}, fmt.Errorf("resolve cycle %s: %w", cycle, err)
	}
	return payload, tx, nil
}

// ResolveDryRun is what the ledger's resolution of cycle would settle and
// defer, bank by bank, without writing anything (an evaluation).
func (c *Client) ResolveDryRun(ctx context.Context, cycle string) ([]byte, error) {
	out, err := c.Evaluate(ctx, "ResolveCycle", cycle, "dry-run")
	if err != nil {
		return nil, fmt.Errorf("resolve cycle %s (dry run): %w", cycle, err)
	}
	return out, nil
}

// ProposeSetting proposes a scheme setting (the operator's or a bank's
// admin); it applies once the operator and a majority of banks approve.
func (c *Client) ProposeSetting(ctx context.Context, name, value string) ([]byte, jobs.LedgerTx, error) {
	return c.Submit(ctx, nil, "ProposeSetting", name, value)
}

// ApproveSetting approves a scheme setting proposal.
func (c *Client) ApproveSetting(ctx context.Context, id string) ([]byte, jobs.LedgerTx, error) {
	return c.Submit(ctx, nil, "ApproveSetting", id)
}

// Scheme is the ledger's gridlock setting (auto or hold).
func (c *Client) Scheme(ctx context.Context) ([]byte, error) { return c.Evaluate(ctx, "GetScheme") }
