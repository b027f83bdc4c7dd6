package e2e

import (
	"strings"
)

// approve has a second operator approve the four-eyes request that out
// (a command's output, "request N: ...") announced, and returns what the
// approval printed.
func (s *sys) approve(out string) string {
	s.t.Helper()
	return s.must("approve", s.requestID(out), "--by", "ops-lee", "--config", s.config) // the deferral's notice goes to the test's outbox
}

// requestID is the number of the request out announced.
func (s *sys) requestID(out string) string {
	s.t.Helper()
	rest, ok := strings.CutPrefix(out, "request ")
	id, _, ok2 := strings.Cut(rest, ":")
	if !ok || !ok2 {
		s.t.Fatalf("no four-eyes request in %q", out)
	}
	return id
}

// setCap sets a bank's cap as operators must: `bank cap set` lowers it
// alone; a raise (a first cap included: no cap is a cap of zero) is
// requested by one operator and approved by another.
func (s *sys) setCap(bic, cur, amount string) {
	s.t.Helper()
	out, errs, code := s.settle("bank", "cap", "set", bic, cur, amount)
	switch {
	case code == 0:
		return
	case code == 1 && strings.Contains(errs, "needs a second operator"):
		s.approve(s.must("bank", "cap", "raise", bic, cur, amount, "--note", "the bank's funding, agreed", "--by", "ops-kim", "--config", s.config))
	default:
		s.t.Fatalf("bank cap set %s %s %s: exit %d\n%s\n%s", bic, cur, amount, code, out, lastLines(errs, 10))
	}
}
