// Package settlement is the pure core of the system: money, banks, payment
// records, the rules a payment file must satisfy, and multilateral netting.
//
// It imports only the standard library and shopspring/decimal. It reads no
// files, opens no connections and keeps no clock, so every rule here is
// tested without a server and means the same thing in the CLI, the nightly
// job and an audit re-run.
package settlement
