// Package failpoint lets a test kill the process at a named point, to show
// that a crash there is harmless: SETTLE_CRASH_AT=<name> makes the process
// send itself SIGKILL when it reaches Here(<name>). SIGKILL, not os.Exit:
// no deferred function runs, no buffer is flushed, no file is closed, as
// when the machine loses power or the kernel kills the process.
//
// The variable is read once, at the first call; unset, Here is one
// comparison of a string with "".
package failpoint

import (
	"os"
	"sync"
	"syscall"
)

// Env names the variable that chooses the point.
const Env = "SETTLE_CRASH_AT"

var (
	once  sync.Once
	armed string
)

// Here kills the process if name is the chosen point.
func Here(name string) {
	once.Do(func() { armed = os.Getenv(Env) })
	if armed == "" || armed != name {
		return
	}
	os.Stderr.WriteString("failpoint: killed at " + name + "\n")
	syscall.Kill(os.Getpid(), syscall.SIGKILL)
	select {} // the signal is on its way; never go on past the point
}
