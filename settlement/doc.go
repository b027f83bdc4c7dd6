// Package settlement is the pure core of the system: money, banks, payment
// records, the rules a payment file must satisfy, multilateral netting, and
// gridlock resolution.
//
// It imports only the standard library and shopspring/decimal. It reads no
// files, opens no connections and keeps no clock, so every rule here is
// tested without a server and means the same thing in the CLI, the nightly
// job and an audit re-run.
//
// # Gridlock resolution
//
// When a bank's net debit breaks its cap, the cycle settles the greatest set
// of payments that fits every cap, in each bank's queue order, with one
// answer that every endorsing peer recomputes; the rest moves to the next
// cycle. The rule, in the contract's words:
//
// One run per currency. Each bank's payments are taken in its queue order:
// first by priority (pacs.008 PmtTpInf/InstrPrty HIGH before the rest; CSV
// payments count as normal), then by the order in which its files were
// recorded on the ledger, then by their position in the file. Reversals are
// never deferred: they undo settled money, and they count first. If the
// reversals alone put a bank over its cap, no removal of payments can help.
// The cycle is then held for the operator, as today, naming the bank and the
// reversals.
//
// The resolution. Start from every payment. While some bank is over its cap,
// remove that bank's last included payment. That changes both the payer and
// the payee, and the payee may now be over its own cap, so repeat. Take banks
// in ascending BIC order whenever there is a choice.
//
// The answer is unique. Feasible sets of per-bank prefixes are closed under
// taking, bank by bank, the longer prefix. So there is one greatest feasible
// set, and this removal reaches it in any order. (Why: a payment removed is
// one that no feasible set holds, since its payer is over its cap with at
// most the payments still included around it, and fewer only make it worse.)
//
// Where the words leave a choice, this package takes it so: "the reversals
// alone" is a bank over its cap with none of its payments left, counting what
// it still receives (payments to it can save it; removals elsewhere can only
// make it worse); removal goes on around such a bank, and the error names
// every bank that ends that way, which again does not depend on the order. A
// bank without a cap in a currency is treated as CapBreaches treats it (one
// function, capLimit, says so). OrderQueues costs O(P + B log B) (a stable
// counting placement: within a file the order is already the queue's);
// Resolve costs O(P + E log B), E <= P + B being the times a bank goes over
// its cap; amounts are exact 128-bit counts of minor units, never floats;
// nothing depends on map iteration order.
package settlement
