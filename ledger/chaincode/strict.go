package chaincode

import (
	"encoding/json"
	"errors"
	"io"
	"reflect"
	"strings"
	"sync"
)

// jsonLimit bounds one JSON argument. Every bound is checked by a streaming
// scan before anything is decoded, so an oversized list costs the chaincode
// its bytes, never the memory of a decoded copy (issue 11: a 4 MB list once
// grew a chaincode server by 386 MB).
type jsonLimit struct {
	bytesMax int // the argument's length
	itemsMax int // elements of the top-level array (0: the value must be an object)
	depthMax int // nesting of arrays and objects
}

// decodeStrict decodes exactly one JSON value into v, refusing what Go's
// decoder would let through: a key twice in one object, a key that matches a
// field only case-insensitively ("Sender" for "sender"), a key of no field,
// more elements or more nesting than lim allows, and data after the value.
func decodeStrict(field, raw string, v any, lim jsonLimit) error {
	if len(raw) > lim.bytesMax {
		return refuse(CodeLimit, "%s is %d bytes, at most %d", field, len(raw), lim.bytesMax)
	}
	if err := scanJSON(field, raw, jsonKeys(reflect.TypeOf(v)), lim); err != nil {
		return err
	}
	dec := json.NewDecoder(strings.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return refuse(CodeBadArgs, "%s is not valid JSON of the expected shape: %v", field, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return refuse(CodeBadArgs, "%s has data after its JSON value", field)
	}
	return nil
}

// scanJSON walks the tokens of raw without building any value.
func scanJSON(field, raw string, keys map[string]bool, lim jsonLimit) error {
	dec := json.NewDecoder(strings.NewReader(raw))
	dec.UseNumber()
	sc := jsonScan{field: field, keys: keys, lim: lim}
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return refuse(CodeBadArgs, "%s is not valid JSON: %v", field, err)
		}
		if err := sc.token(tok); err != nil {
			return err
		}
	}
	if sc.values == 0 {
		return refuse(CodeBadArgs, "%s is empty", field)
	}
	return nil
}

// jsonScan is scanJSON's state between tokens: the open arrays and objects,
// and the counts the limits bound.
type jsonScan struct {
	field  string
	keys   map[string]bool
	lim    jsonLimit
	stack  []*jsonFrame
	items  int // elements of the top-level array
	values int // top-level values
}

// jsonFrame is an open array or object.
type jsonFrame struct {
	object  bool
	seen    map[string]string // lower-case key -> key as written
	wantKey bool
}

// token takes the next token: a key where an object expects one, else a
// value (scalar or opening delimiter) or a closing delimiter.
func (sc *jsonScan) token(tok json.Token) error {
	top := (*jsonFrame)(nil)
	if len(sc.stack) > 0 {
		top = sc.stack[len(sc.stack)-1]
	}
	if top != nil && top.object && top.wantKey {
		return sc.key(top, tok)
	}
	// A value (scalar or opening delimiter) or a closing ']'.
	if d, ok := tok.(json.Delim); ok && (d == ']' || d == '}') {
		sc.stack = sc.stack[:len(sc.stack)-1]
		return nil
	}
	if err := sc.count(tok); err != nil {
		return err
	}
	if top != nil && top.object {
		top.wantKey = true
	}
	if d, ok := tok.(json.Delim); ok {
		if len(sc.stack) >= sc.lim.depthMax {
			return refuse(CodeLimit, "%s nests deeper than %d levels", sc.field, sc.lim.depthMax)
		}
		f := &jsonFrame{object: d == '{', wantKey: d == '{'}
		if f.object {
			f.seen = map[string]string{}
		}
		sc.stack = append(sc.stack, f)
	}
	return nil
}

// key takes a token where the object top expects a key (or its end): a key
// twice, two keys that differ only in case and a key of no field are
// refused, because Go's decoder would silently pick one of them.
func (sc *jsonScan) key(top *jsonFrame, tok json.Token) error {
	if d, ok := tok.(json.Delim); ok && d == '}' {
		sc.stack = sc.stack[:len(sc.stack)-1]
		return nil
	}
	k, _ := tok.(string)
	lower := strings.ToLower(k)
	if prev, dup := top.seen[lower]; dup {
		if prev == k {
			return refuse(CodeBadArgs, "%s: key %q appears twice in one object", sc.field, clip(k))
		}
		return refuse(CodeBadArgs, "%s: keys %q and %q differ only in case", sc.field, clip(prev), clip(k))
	}
	if !sc.keys[k] {
		return refuse(CodeBadArgs, "%s: unknown key %q (keys are case-sensitive)", sc.field, clip(k))
	}
	top.seen[lower] = k
	top.wantKey = false
	return nil
}

// count checks a value against the argument's shape: exactly one top-level
// value, a list when items are bounded (else an object), and at most
// itemsMax elements in that list.
func (sc *jsonScan) count(tok json.Token) error {
	if len(sc.stack) == 0 {
		sc.values++
		if sc.values > 1 {
			return refuse(CodeBadArgs, "%s has data after its JSON value", sc.field)
		}
		d, isDelim := tok.(json.Delim)
		if sc.lim.itemsMax > 0 && (!isDelim || d != '[') {
			return refuse(CodeBadArgs, "%s must be a JSON list", sc.field)
		}
		if sc.lim.itemsMax == 0 && (!isDelim || d != '{') {
			return refuse(CodeBadArgs, "%s must be a JSON object", sc.field)
		}
	} else if len(sc.stack) == 1 && !sc.stack[0].object {
		sc.items++
		if sc.items > sc.lim.itemsMax {
			return refuse(CodeLimit, "%s has more than %d elements", sc.field, sc.lim.itemsMax)
		}
	}
	return nil
}

var jsonKeysCache sync.Map // reflect.Type -> map[string]bool

// jsonKeys lists every JSON key of the structs reachable from t: the only
// keys an argument of that type may use, spelled exactly.
func jsonKeys(t reflect.Type) map[string]bool {
	if v, ok := jsonKeysCache.Load(t); ok {
		return v.(map[string]bool)
	}
	keys := map[string]bool{}
	var walk func(t reflect.Type)
	seen := map[reflect.Type]bool{}
	walk = func(t reflect.Type) {
		for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice || t.Kind() == reflect.Array {
			t = t.Elem()
		}
		if t.Kind() != reflect.Struct || seen[t] {
			return
		}
		seen[t] = true
		for i := range t.NumField() {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name == "-" {
				continue
			}
			if f.Anonymous && name == "" {
				walk(f.Type)
				continue
			}
			if name == "" {
				name = f.Name
			}
			keys[name] = true
			walk(f.Type)
		}
	}
	walk(t)
	jsonKeysCache.Store(t, keys)
	return keys
}
