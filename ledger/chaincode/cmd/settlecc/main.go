// Command settlecc serves the settlement chaincode as an external service (ccaas):
// the peer dials it at CHAINCODE_SERVER_ADDRESS; CHAINCODE_ID is the package id the
// peer installed. TLS is used when CHAINCODE_TLS_CERT and CHAINCODE_TLS_KEY name
// PEM files (CHAINCODE_TLS_CLIENT_CA, if set, makes the peer authenticate too).
package main

import (
	"fmt"
	"log/slog"
	"os"

	"github.com/hyperledger/fabric-chaincode-go/v2/shim"

	"settle/ledger/chaincode"
)

func main() {
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, nil)))
	if err := run(); err != nil {
		slog.Error("chaincode server stopped", "err", err)
		os.Exit(1)
	}
}

func run() error {
	addr, id := os.Getenv("CHAINCODE_SERVER_ADDRESS"), os.Getenv("CHAINCODE_ID")
	if addr == "" || id == "" {
		return fmt.Errorf("CHAINCODE_SERVER_ADDRESS and CHAINCODE_ID must be set (got %q, %q)", addr, id)
	}
	tlsProps, err := tlsFromEnv()
	if err != nil {
		return err
	}
	srv := &shim.ChaincodeServer{CCID: id, Address: addr, CC: chaincode.Contract{}, TLSProps: tlsProps}
	slog.Info("chaincode server listening", "address", addr, "package_id", id, "tls", !tlsProps.Disabled)
	return srv.Start()
}

func tlsFromEnv() (shim.TLSProperties, error) {
	certFile, keyFile := os.Getenv("CHAINCODE_TLS_CERT"), os.Getenv("CHAINCODE_TLS_KEY")
	if certFile == "" && keyFile == "" {
		return shim.TLSProperties{Disabled: true}, nil
	}
	cert, err := os.ReadFile(certFile)
	if err != nil {
		return shim.TLSProperties{}, fmt.Errorf("CHAINCODE_TLS_CERT: %w", err)
	}
	key, err := os.ReadFile(keyFile)
	if err != nil {
		return shim.TLSProperties{}, fmt.Errorf("CHAINCODE_TLS_KEY: %w", err)
	}
	props := shim.TLSProperties{Cert: cert, Key: key}
	if ca := os.Getenv("CHAINCODE_TLS_CLIENT_CA"); ca != "" {
		if props.ClientCACerts, err = os.ReadFile(ca); err != nil {
			return shim.TLSProperties{}, fmt.Errorf("CHAINCODE_TLS_CLIENT_CA: %w", err)
		}
	}
	return props, nil
}
