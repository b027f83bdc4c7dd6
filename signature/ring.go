package signature

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"settle/settlement"
)

// Ring is a set of public keys by bank.
type Ring map[settlement.BIC][]Key

// Keys returns the keys of a bank.
func (r Ring) Keys(b settlement.BIC) []Key { return r[b] }

// Add registers a key.
func (r Ring) Add(k Key) { r[k.Bank] = append(r[k.Bank], k) }

// keysMax bounds a keys directory.
const keysMax = 10_000

// LoadDir reads a directory of PEM public keys named <BIC>.pem or
// <BIC>.<label>.pem; other files are ignored. A .pem file whose name is not
// a BIC, or whose content is not an accepted key, is an error: a key an
// operator meant to register must not be skipped silently.
func LoadDir(dir string) (Ring, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	sort.Slice(ents, func(i, j int) bool { return ents[i].Name() < ents[j].Name() })
	r := Ring{}
	n := 0
	for _, e := range ents {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".pem") {
			continue
		}
		if n++; n > keysMax {
			return nil, fmt.Errorf("%s: more than %d keys", dir, keysMax)
		}
		base := strings.TrimSuffix(name, ".pem")
		bicPart, label, _ := strings.Cut(base, ".")
		bic, err := settlement.ParseBIC(bicPart)
		if err != nil {
			return nil, fmt.Errorf("%s: file name must be <BIC>.pem or <BIC>.<label>.pem: %w", filepath.Join(dir, name), err)
		}
		if label == "" {
			label = "default"
		}
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return nil, err
		}
		pub, err := ParsePublicKey(b)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", filepath.Join(dir, name), err)
		}
		r.Add(Key{Bank: bic, Label: label, Public: pub})
	}
	return r, nil
}
