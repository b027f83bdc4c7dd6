// Package jobs holds the scheduled work of the settlement system and the
// small ports it needs from the outside world.
package jobs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"settle/settlement"
)

// Inbox is where the intake job finds the payment files banks submitted.
// It is implemented by the built-in SFTP server's storage and by a pull
// from a bank's own SFTP server; the job cannot tell them apart.
//
// The contract every implementation keeps:
//   - List returns complete files only: a payment file (*.csv, *.xml) whose
//     detached signature <name>.sig is present, both fully written. A file
//     still being written, or without its .sig, is never listed.
//     An adapter may also list a complete pair it will never read as a
//     payment file (x.txt and x.txt.sig), with Ignored saying why: the
//     intake only writes the bank a notice and marks it Done.
//   - A file marked Done is never listed again, by this value or by a new
//     one over the same storage.
//   - Open and OpenSig return exactly the bytes of the listed file; where an
//     adapter finds the file changed since List, it returns ErrChanged and
//     the file is not taken.
type Inbox interface {
	// List returns the complete files waiting, oldest first, at most
	// limit of them (limit <= 0 means the adapter's own bound).
	List(ctx context.Context, limit int) ([]InboxFile, error)
	// Open returns the payment file's bytes.
	Open(ctx context.Context, f InboxFile) (io.ReadCloser, error)
	// OpenSig returns the bytes of the file's detached signature.
	OpenSig(ctx context.Context, f InboxFile) (io.ReadCloser, error)
	// Ack writes body as name into the outbox of the bank that sent f,
	// atomically: the bank sees the whole acknowledgement or nothing. It
	// never replaces a file: where name exists with the same bytes (an
	// earlier call a crash interrupted) it does nothing, and where it
	// exists with other bytes it returns ErrAckExists.
	Ack(ctx context.Context, f InboxFile, name string, body []byte) error
	// Done marks f taken so that it is never taken twice. It is called
	// after the file is archived and acknowledged; it is idempotent, and
	// finishes a Done a crash interrupted (a pair half moved out).
	Done(ctx context.Context, f InboxFile) error
}

// InboxFile is one complete payment file and its signature as an Inbox
// lists it. It is a value: the adapter finds the file again by Bank and
// Name, and checks Size and ModTime against what it finds.
type InboxFile struct {
	// Bank is the bank whose tree the file was found in: the sender as
	// far as transport goes (the file's own header names it too).
	Bank settlement.BIC
	// Name is the base name in the bank's inbox, e.g. "F20261124-001.csv".
	Name    string
	Size    int64
	ModTime time.Time
	// SHA256 is the lowercase hex digest of the payment file when the
	// adapter knows it at List time, and "" when it does not; the
	// archive computes it in any case before anything else happens.
	SHA256 string
	// SigSize is the size of <Name>.sig.
	SigSize    int64
	SigModTime time.Time
	// Ignored, when not "", says why this complete pair will never be
	// read as a payment file (IgnoredReason): the intake only tells the
	// bank so, in NoticeName(Name), and marks it done.
	Ignored string
	// Via names the inbox that listed the file when several are read
	// together (Inboxes); "" is the built-in server's storage.
	Via string
}

// SigName is the name of the file's detached signature.
func (f InboxFile) SigName() string { return f.Name + SigSuffix }

// SigSuffix is appended to a payment file's name to name its signature.
const SigSuffix = ".sig"

// OutboxNameBytesMax is the longest name of a file in a bank's tree.
const OutboxNameBytesMax = 128

// derivedSuffixMax is the longest suffix the system appends to a payment
// file's name for a file it writes about it, that file's own .sig
// included: the verdict on a reused name,
// <name>.<16 hex digits>.ack.json, and its .sig.
const derivedSuffixMax = len(".0123456789abcdef.ack.json.sig")

// PaymentFileNameBytesMax is the longest payment file name: every name
// derived from it (acknowledgements, status reports, notices, deferral
// notices, settlement reports and their signatures) must fit in
// OutboxNameBytesMax, or the file could be settled but never
// acknowledged (issue 12, item 4).
const PaymentFileNameBytesMax = OutboxNameBytesMax - derivedSuffixMax

// NoticeName is the outbox notice of a complete pair that will never be
// read.
func NoticeName(file string) string { return file + ".notice.json" }

// IgnoredReason says why a complete pair named name will never be read
// as a payment file, or "" when it will be.
func IgnoredReason(name string) string {
	switch {
	case !IsPaymentFileName(name):
		return "not a payment file name: payment files are named *.csv or *.xml, in lower case; this file is never read"
	case len(name) > PaymentFileNameBytesMax:
		return fmt.Sprintf("file name of %d characters is too long: a payment file name has at most %d, so that its acknowledgements fit; this file is never read",
			len(name), PaymentFileNameBytesMax)
	}
	return ""
}

// IsPaymentFileName reports whether name is a payment file by the
// bank-facing spec (*.csv or *.xml); only those are ever listed.
func IsPaymentFileName(name string) bool {
	return strings.HasSuffix(name, ".csv") || strings.HasSuffix(name, ".xml")
}

// ErrChanged reports a file that changed between List and Open (size,
// modification time or bytes differ); it was not taken and will be
// listed again in its new form.
var ErrChanged = errors.New("inbox file changed since it was listed")

// ErrNotListed reports an InboxFile that its Inbox no longer holds.
var ErrNotListed = errors.New("inbox file not found")

// Lockout is one lock of the SFTP server's login guard that an operator
// may lift: a user locked out from one source after failed logins, or
// (User "") a source made to back off.
type Lockout struct {
	Source   string    `json:"source"`
	User     string    `json:"user,omitempty"`
	Failures int       `json:"failures"`
	Until    time.Time `json:"until"`
}
