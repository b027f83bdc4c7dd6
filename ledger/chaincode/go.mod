module settle/ledger/chaincode

go 1.26.0

require (
	github.com/hyperledger/fabric-chaincode-go/v2 v2.3.0 // indirect
	github.com/shopspring/decimal v1.6.0 // indirect
)
