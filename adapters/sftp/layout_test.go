package sftp

import (
	"path/filepath"
	"strings"
	"testing"
)

func TestParseVPath(t *testing.T) {
	for in, want := range map[string]string{
		"":                       "/",
		"/":                      "/",
		"..":                     "/",
		"/../..":                 "/",
		"inbox":                  "/inbox",
		"/inbox/":                "/inbox",
		"//inbox//F.csv":         "/inbox/F.csv",
		"inbox/./F.csv":          "/inbox/F.csv",
		"../../inbox/F.csv":      "/inbox/F.csv",
		"outbox/x/../F.ack.json": "/outbox/F.ack.json",
	} {
		v, err := parseVPath(in)
		if err != nil || v.String() != want {
			t.Errorf("parseVPath(%q) = %q, %v; want %q", in, v.String(), err, want)
		}
	}
	for _, in := range []string{
		"/etc/passwd", "../secret", "inbox/sub/F.csv", "inbox/.hidden", "inbox/-rf", "inbox/a b.csv",
		"inbox/F.csv\x00.sig", "\x00", "banks/AAAABBCC/inbox/F.csv", "inbox/" + strings.Repeat("a", 129),
		"inbox/é.csv", "inbox/a\\..\\b",
	} {
		if v, err := parseVPath(in); err == nil {
			t.Errorf("parseVPath(%q) = %q; want refused", in, v.String())
		}
	}
}

// FuzzJoin: whatever path a client sends, the host path it reaches is the
// jail, its inbox or outbox, or a plain file directly inside one of those.
func FuzzJoin(f *testing.F) {
	for _, s := range []string{"", "/", "..", "../..", "inbox/../../x", "/inbox/F.csv", "inbox/..",
		"outbox/../../banks/B/inbox/F.csv", "inbox/\x00", "inbox//F.csv", "./inbox/./F.csv.sig", "inbox/...",
		"inbox/..F", "\\..\\..\\etc", "inbox/F.csv/.."} {
		f.Add(s)
	}
	jail := filepath.Join("/srv", "settle", "banks", "AAAABBCC")
	f.Fuzz(func(t *testing.T, p string) {
		h := &handlers{}
		rp, err := h.RealPath(p)
		if err == nil && (!strings.HasPrefix(rp, "/") || strings.Contains("/"+rp+"/", "/../")) {
			t.Fatalf("RealPath(%q) = %q", p, rp)
		}
		v, err := parseVPath(p)
		if err != nil {
			return
		}
		hp := hostPath(jail, v) // panics on escape
		rel, err := filepath.Rel(jail, hp)
		if err != nil || rel == ".." || strings.HasPrefix(rel, "../") {
			t.Fatalf("%q reaches %q outside the jail", p, hp)
		}
		parts := strings.Split(rel, "/")
		switch {
		case rel == ".":
		case len(parts) == 1 && (parts[0] == inboxDir || parts[0] == outboxDir):
		case len(parts) == 2 && (parts[0] == inboxDir || parts[0] == outboxDir) && validName(parts[1]):
		default:
			t.Fatalf("%q reaches %q, which is not a place in the jail", p, rel)
		}
		if strings.ContainsRune(hp, 0) {
			t.Fatalf("%q reaches a path with NUL", p)
		}
	})
}
