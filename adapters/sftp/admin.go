package sftp

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// The operator's control socket: <root>/state/admin.sock, a Unix socket
// only its owner can open (mode 0600 in a 0700 folder), through which
// `settle sftp lockouts` lists and `settle sftp unlock` lifts lockouts of
// the running server. One JSON request per connection, one JSON answer.

// adminRequestBytesMax bounds one request on the control socket.
const adminRequestBytesMax = 4 << 10

// adminTimeout bounds one exchange on the control socket.
const adminTimeout = 10 * time.Second

func (l layout) adminSocket() string { return filepath.Join(l.root, "state", "admin.sock") }

type adminRequest struct {
	Op     string `json:"op"` // "lockouts" or "unlock"
	Source string `json:"source,omitempty"`
	User   string `json:"user,omitempty"`
	By     string `json:"by,omitempty"`
}

type adminResponse struct {
	Lockouts []Lockout `json:"lockouts,omitempty"`
	Lifted   int       `json:"lifted"`
	Error    string    `json:"error,omitempty"`
}

// serveAdmin answers the control socket until ctx ends. A socket some
// other live server answers on is left to it.
func (s *Server) serveAdmin(ctx context.Context, wg *sync.WaitGroup) {
	p := s.lay.adminSocket()
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		s.log.Error("control socket", "err", err.Error())
		return
	}
	if c, err := net.DialTimeout("unix", p, time.Second); err == nil {
		c.Close()
		s.log.Error("control socket already served by another process: lockouts of this one cannot be listed", "socket", p)
		return
	}
	os.Remove(p) // left by a server that stopped without removing it
	ln, err := net.Listen("unix", p)
	if err != nil {
		s.log.Error("control socket", "socket", p, "err", err.Error())
		return
	}
	if err := os.Chmod(p, 0o600); err != nil {
		ln.Close()
		s.log.Error("control socket", "socket", p, "err", err.Error())
		return
	}
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer stop()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.answerAdmin(c)
		}
	}()
}

// answerAdmin serves one request; requests are few and answered one at a
// time, so a stuck operator tool delays only the next one, by adminTimeout.
func (s *Server) answerAdmin(c net.Conn) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(adminTimeout))
	var req adminRequest
	var resp adminResponse
	line, err := bufio.NewReaderSize(c, adminRequestBytesMax).ReadSlice('\n')
	if err != nil {
		resp.Error = "request: " + err.Error()
	} else if err := json.Unmarshal(line, &req); err != nil {
		resp.Error = "request: " + err.Error()
	}
	if resp.Error == "" {
		switch req.Op {
		case "lockouts":
			resp.Lockouts = s.Lockouts()
		case "unlock":
			if req.Source == "" {
				resp.Error = "unlock: source is required"
				break
			}
			resp.Lifted = s.Unlock(req.Source, req.User, req.By)
		default:
			resp.Error = fmt.Sprintf("unknown op %q", req.Op)
		}
	}
	json.NewEncoder(c).Encode(resp)
}

// ErrNoServer reports that no server answers on a root's control socket.
var ErrNoServer = errors.New("no sftp server answers on the control socket")

func askAdmin(ctx context.Context, root string, req adminRequest) (adminResponse, error) {
	if abs, err := filepath.Abs(root); err == nil {
		root = abs
	}
	p := layout{root: root}.adminSocket()
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", p)
	if err != nil {
		return adminResponse{}, fmt.Errorf("%w (%s): %v", ErrNoServer, p, err)
	}
	defer c.Close()
	dl := time.Now().Add(adminTimeout)
	if t, ok := ctx.Deadline(); ok && t.Before(dl) {
		dl = t
	}
	c.SetDeadline(dl)
	b, _ := json.Marshal(req)
	if _, err := c.Write(append(b, '\n')); err != nil {
		return adminResponse{}, err
	}
	var resp adminResponse
	if err := json.NewDecoder(c).Decode(&resp); err != nil {
		return adminResponse{}, err
	}
	if resp.Error != "" {
		return resp, errors.New(resp.Error)
	}
	return resp, nil
}

// ListLockouts asks the server running on root for its lockouts.
func ListLockouts(ctx context.Context, root string) ([]Lockout, error) {
	resp, err := askAdmin(ctx, root, adminRequest{Op: "lockouts"})
	return resp.Lockouts, err
}

// LiftLockout asks the server running on root to lift the lockout of user
// from source (user "": of every user from source) and the source's
// backoff; by names the operator for the server's log.
func LiftLockout(ctx context.Context, root, source, user, by string) (int, error) {
	resp, err := askAdmin(ctx, root, adminRequest{Op: "unlock", Source: source, User: user, By: by})
	return resp.Lifted, err
}
