module settle/ledger/chaincode

go 1.26.0

require (
	github.com/hyperledger/fabric-chaincode-go/v2 v2.3.0
	github.com/hyperledger/fabric-protos-go-apiv2 v0.3.6
	github.com/shopspring/decimal v1.6.0
	google.golang.org/protobuf v1.36.8
	settle v0.0.0
)

require (
	filippo.io/edwards25519 v1.1.0 // indirect
	golang.org/x/net v0.58.0 // indirect
	golang.org/x/sys v0.50.0 // indirect
	golang.org/x/text v0.42.0 // indirect
	google.golang.org/genproto/googleapis/rpc v0.0.0-20250115164207-1a7da9e5054f // indirect
	google.golang.org/grpc v1.70.0 // indirect
)

// The chaincode runs the service's own rules (settlement, the format parsers,
// signature verification): one copy of them, taken from the repository root.
// The chaincode is built from a checkout (ops/fabric/up.sh builds cmd/settlecc in
// this directory for chaincode-as-a-service), so the relative path always resolves.
replace settle => ../..
