package failpoint

import (
	"os"
	"os/exec"
	"syscall"
	"testing"
)

// TestHere runs this test binary again as a child that passes two points:
// armed at the second, the child dies of SIGKILL there (it never prints
// "after"); armed at none or another, it runs to its end.
func TestHere(t *testing.T) {
	if os.Getenv("FAILPOINT_CHILD") != "" {
		Here("first")
		os.Stdout.WriteString("between\n")
		Here("second")
		os.Stdout.WriteString("after\n")
		os.Exit(0)
	}
	for _, c := range []struct {
		armed  string
		out    string
		killed bool
	}{{"", "between\nafter\n", false}, {"elsewhere", "between\nafter\n", false}, {"second", "between\n", true}, {"first", "", true}} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestHere$")
		cmd.Env = append(os.Environ(), "FAILPOINT_CHILD=1", Env+"="+c.armed)
		out, err := cmd.Output()
		ws, _ := cmd.ProcessState.Sys().(syscall.WaitStatus)
		if string(out) != c.out || ws.Signaled() != c.killed || (c.killed && ws.Signal() != syscall.SIGKILL) || (!c.killed && err != nil) {
			t.Errorf("armed %q: output %q, status %v (%v); want %q, killed %v", c.armed, out, cmd.ProcessState, err, c.out, c.killed)
		}
	}
}
