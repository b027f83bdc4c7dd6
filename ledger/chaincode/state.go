package chaincode

import (
	"encoding/json"
)

// key builds a composite key from attributes the caller has already validated.
func key(s Stub, objectType string, attrs ...string) (string, error) {
	k, err := s.CreateCompositeKey(objectType, attrs)
	if err != nil {
		return "", internal("composite key %s: %v", objectType, err)
	}
	return k, nil
}

// getJSON reads key into v; found is false when the key is absent.
func getJSON(s Stub, k string, v any) (found bool, err error) {
	raw, err := s.GetState(k)
	if err != nil {
		return false, internal("read state: %v", err)
	}
	if raw == nil {
		return false, nil
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return false, internal("ledger value under %q is not valid JSON: %v", printable(k), err)
	}
	return true, nil
}

func putJSON(s Stub, k string, v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return internal("encode: %v", err)
	}
	if err := s.PutState(k, raw); err != nil {
		return internal("write state: %v", err)
	}
	return nil
}

func marshal(v any) ([]byte, error) {
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, internal("encode result: %v", err)
	}
	return raw, nil
}

// printable renders a composite key for messages (its separators are NUL bytes).
func printable(k string) string {
	b := []byte(k)
	for i, c := range b {
		if c == 0 {
			b[i] = '/'
		}
	}
	return string(b)
}
