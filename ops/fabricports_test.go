package ops

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// fabricPlan is ops/fabric/common.sh's plan for a network of the settings
// given (FABRIC_BANKS=...): every port, in network_ports' order, and the
// number of orderers. It only sources common.sh: nothing listens.
func fabricPlan(t *testing.T, env ...string) (ports []int, orderers int, err error) {
	t.Helper()
	script := `source "$1/ops/fabric/common.sh"; check_settings; network_ports; echo "orderers $ORDERERS"`
	cmd := exec.Command("bash", "-c", script, "plan", repoRoot(t))
	cmd.Env = append(os.Environ(), append([]string{"FABRIC_NETWORK_DIR=" + filepath.Join(t.TempDir(), "net"),
		"FABRIC_BASE_PORT=", "FABRIC_ORDERERS=", "FABRIC_PORT_BLOCK=", "SETTLE_PORT_BASE=20000"}, env...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return nil, 0, fmt.Errorf("%v: %s", err, out)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if n, ok := strings.CutPrefix(line, "orderers "); ok {
			orderers, _ = strconv.Atoi(n)
			continue
		}
		p, err := strconv.Atoi(line)
		if err != nil {
			t.Fatalf("network_ports line %q", line)
		}
		ports = append(ports, p)
	}
	return ports, orderers, nil
}

// TestFabricPortPlan: up to 9 banks keep the plan the tests and demos were
// made with (bank i at BASE+10i, one orderer per member, inside one block);
// 10 to 20 banks take two blocks without a port twice; FABRIC_ORDERERS caps
// the orderers; and what cannot fit is refused.
func TestFabricPortPlan(t *testing.T) {
	const base = 20000 + 400 // SETTLE_PORT_BASE=20000, the client block
	for _, tc := range []struct {
		banks, orderers, want int // want: orderers the plan has
		span                  int
	}{
		{3, 0, 4, 100}, {5, 0, 6, 100}, {9, 0, 10, 100}, {5, 4, 4, 100},
		{10, 0, 11, 200}, {20, 0, 21, 200}, {20, 7, 7, 200}, {20, 4, 4, 200},
	} {
		env := []string{"FABRIC_PORT_BLOCK=client", "FABRIC_BANKS=" + strconv.Itoa(tc.banks)}
		if tc.orderers > 0 {
			env = append(env, "FABRIC_ORDERERS="+strconv.Itoa(tc.orderers))
		}
		ports, orderers, err := fabricPlan(t, env...)
		if err != nil {
			t.Errorf("%d banks, %d orderers: %v", tc.banks, tc.orderers, err)
			continue
		}
		if orderers != tc.want || len(ports) != 3*tc.want+4*tc.banks {
			t.Errorf("%d banks: %d orderers and %d ports, want %d and %d", tc.banks, orderers, len(ports), tc.want, 3*tc.want+4*tc.banks)
		}
		sorted := slices.Clone(ports)
		slices.Sort(sorted)
		if len(slices.Compact(sorted)) != len(ports) {
			t.Errorf("%d banks: a port twice in %v", tc.banks, ports)
		}
		if sorted[0] != base || sorted[len(sorted)-1] >= base+tc.span {
			t.Errorf("%d banks: ports %d..%d, want inside %d..%d", tc.banks, sorted[0], sorted[len(sorted)-1], base, base+tc.span-1)
		}
		if tc.banks <= 9 && tc.orderers == 0 {
			// The layout of 1..9 banks, exactly: orderers first, then each
			// bank's peer, chaincode listener, operations, chaincode server.
			var want []int
			want = append(want, base, base+1, base+2)
			for i := 1; i < tc.want; i++ {
				want = append(want, base+10*i+5, base+10*i+6, base+10*i+7)
			}
			for i := 1; i <= tc.banks; i++ {
				want = append(want, base+10*i, base+10*i+1, base+10*i+3, base+10*i+4)
			}
			if !slices.Equal(ports, want) {
				t.Errorf("%d banks: plan %v, want %v", tc.banks, ports, want)
			}
		}
	}
	for _, env := range [][]string{
		{"FABRIC_BANKS=21"},
		{"FABRIC_BANKS=20", "FABRIC_ORDERERS=3"},
		{"FABRIC_BANKS=20", "FABRIC_ORDERERS=22"},
		{"FABRIC_BANKS=5", "FABRIC_ORDERERS=x"},
		{"FABRIC_BANKS=20", "FABRIC_PORT_BLOCK=e2e"}, // the slot's last block has no next
	} {
		if _, _, err := fabricPlan(t, env...); err == nil || !strings.Contains(err.Error(), "ERROR") {
			t.Errorf("%v: want a refusal, got %v", env, err)
		}
	}
}
