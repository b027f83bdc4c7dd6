package fabric

import (
	"context"
	"errors"
	"fmt"
	"net"
	"syscall"
	"testing"

	"google.golang.org/grpc/codes"
	grpcstatus "google.golang.org/grpc/status"
)

// A peer is judged unreachable by the error's type, never its text: a
// chaincode message that happens to say "connection" or "deadline" is an
// answer (issue 12, also-fix list).
func TestUnreachableByTypeNotText(t *testing.T) {
	for _, err := range []error{
		fmt.Errorf("endorse: %w", context.DeadlineExceeded),
		&net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED},
		fmt.Errorf("send: %w", grpcstatus.Error(codes.Unavailable, "x")),
	} {
		if !unreachable(err) {
			t.Errorf("%v: not unreachable", err)
		}
	}
	for _, err := range []error{
		errors.New("CAP_EXCEEDED: no connection between the payment and the cap"),
		errors.New("BAD_ARGS: deadline timed out in the payload"),
		grpcstatus.Error(codes.InvalidArgument, "Unavailable"),
	} {
		if unreachable(err) {
			t.Errorf("%v: judged unreachable by its text", err)
		}
	}
}
