package jobs

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"time"

	"settle/formats"
)

// StatusIgnored is the status of a complete pair that is never read.
const StatusIgnored = "IGNORED"

// Notice is what a bank finds in NoticeName(file) about a complete pair
// that will never be read (issue 12, item 9): a name outside the
// contract (x.txt, UPPER.CSV) or one too long to be acknowledged.
type Notice struct {
	File       string `json:"file"`
	SHA256     string `json:"sha256"`
	Status     string `json:"status"`
	ReceivedAt string `json:"received_at"`
	Reason     string `json:"reason"`
}

// ignore tells the bank that f will never be read, and marks it done. The
// file is hashed, not archived nor checked: nothing of it is ingested.
func (in *Intake) ignore(ctx context.Context, f InboxFile, received time.Time) (TakeResult, error) {
	rc, err := in.Inbox.Open(ctx, f)
	if err != nil {
		return TakeResult{}, err
	}
	h := sha256.New()
	_, err = io.Copy(h, io.LimitReader(rc, in.Limits.Or(formats.DefaultLimits).FileBytesMax+1))
	rc.Close()
	if err != nil {
		return TakeResult{}, err
	}
	n := Notice{File: f.Name, SHA256: hex.EncodeToString(h.Sum(nil)), Status: StatusIgnored,
		ReceivedAt: received.Format(time.RFC3339), Reason: f.Ignored}
	name := NoticeName(f.Name)
	if len(name)+len(SigSuffix) > OutboxNameBytesMax {
		// Even the notice's name would not fit: the log is all there is.
		in.log().Error("pair ignored, and the bank cannot be told: its name is too long even for a notice",
			"bank", f.Bank, "file", f.Name, "reason", f.Ignored)
	} else {
		body, err := json.MarshalIndent(n, "", "  ")
		if err != nil {
			return TakeResult{}, err
		}
		if err := in.Inbox.Ack(ctx, f, name, append(body, '\n')); errors.Is(err, ErrAckExists) {
			// Told before a crash, with that take's time: that notice
			// stands (an outbox file is never replaced).
			in.log().Info("pair ignored before; its notice stands", "bank", f.Bank, "file", f.Name, "notice", name)
		} else if err != nil {
			return TakeResult{}, err
		}
	}
	if err := in.Inbox.Done(ctx, f); err != nil {
		return TakeResult{}, err
	}
	in.log().Warn("pair ignored: never read as a payment file", "bank", f.Bank, "file", f.Name, "sha256", n.SHA256, "reason", f.Ignored)
	return TakeResult{Status: StatusIgnored}, nil
}
