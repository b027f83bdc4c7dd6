package jobs

import "testing"

func TestIsPaymentFileName(t *testing.T) {
	for name, want := range map[string]bool{
		"F1.csv": true, "F1.xml": true, "F1.csv.sig": false, "F1.CSV": false,
		"F1.txt": false, "": false, ".csv": true, "x.xml.ack.json": false,
	} {
		if got := IsPaymentFileName(name); got != want {
			t.Errorf("IsPaymentFileName(%q) = %v, want %v", name, got, want)
		}
	}
	if got := (InboxFile{Name: "F1.csv"}).SigName(); got != "F1.csv.sig" {
		t.Errorf("SigName = %q", got)
	}
}
