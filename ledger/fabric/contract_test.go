package fabric

import (
	"testing"

	"settle/jobs"
	"settle/jobs/ledgertest"
)

// TestLedgerContract runs the ledger port's contract on the real network:
// the legacy (unfounded) chaincode for the records, settles and refusals,
// and the founded one (settle-gov) for the roles, each identity a real
// certificate of its org.
func TestLedgerContract(t *testing.T) {
	ledgertest.Run(t, ledgertest.Harness{
		Ledger: func(t *testing.T) jobs.Ledger { return newClient(t, 1) },
		MSPs:   [3]string{"Bank1MSP", "Bank2MSP", "Bank3MSP"},
		Roles: func(t *testing.T) ledgertest.Roles {
			g := governed(t)
			return ledgertest.Roles{
				Operator: g.op, Bank: g.user[0], BankAdmin: g.admin[0],
				BankMSP: testNet.Banks[0].MSPID, BankBIC: g.banks[0], OtherBIC: g.banks[1],
			}
		},
	})
}
