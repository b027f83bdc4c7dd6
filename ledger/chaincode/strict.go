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
	type frame struct {
		object  bool
		seen    map[string]string // lower-case key -> key as written
		wantKey bool
	}
	var stack []*frame
	items := 0
	values := 0
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return refuse(CodeBadArgs, "%s is not valid JSON: %v", field, err)
		}
		top := (*frame)(nil)
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		if top != nil && top.object && top.wantKey {
			if d, ok := tok.(json.Delim); ok && d == '}' {
				stack = stack[:len(stack)-1]
				continue
			}
			k, _ := tok.(string)
			lower := strings.ToLower(k)
			if prev, dup := top.seen[lower]; dup {
				if prev == k {
					return refuse(CodeBadArgs, "%s: key %q appears twice in one object", field, clip(k))
				}
				return refuse(CodeBadArgs, "%s: keys %q and %q differ only in case", field, clip(prev), clip(k))
			}
			if !keys[k] {
				return refuse(CodeBadArgs, "%s: unknown key %q (keys are case-sensitive)", field, clip(k))
			}
			top.seen[lower] = k
			top.wantKey = false
			continue
		}
		// A value (scalar or opening delimiter) or a closing ']'.
		if d, ok := tok.(json.Delim); ok && (d == ']' || d == '}') {
			stack = stack[:len(stack)-1]
			continue
		}
		if len(stack) == 0 {
			values++
			if values > 1 {
				return refuse(CodeBadArgs, "%s has data after its JSON value", field)
			}
			d, isDelim := tok.(json.Delim)
			if lim.itemsMax > 0 && (!isDelim || d != '[') {
				return refuse(CodeBadArgs, "%s must be a JSON list", field)
			}
			if lim.itemsMax == 0 && (!isDelim || d != '{') {
				return refuse(CodeBadArgs, "%s must be a JSON object", field)
			}
		} else if len(stack) == 1 && !stack[0].object {
			items++
			if items > lim.itemsMax {
				return refuse(CodeLimit, "%s has more than %d elements", field, lim.itemsMax)
			}
		}
		if top != nil && top.object {
			top.wantKey = true
		}
		if d, ok := tok.(json.Delim); ok {
			if len(stack) >= lim.depthMax {
				return refuse(CodeLimit, "%s nests deeper than %d levels", field, lim.depthMax)
			}
			f := &frame{object: d == '{', wantKey: d == '{'}
			if f.object {
				f.seen = map[string]string{}
			}
			stack = append(stack, f)
		}
	}
	if values == 0 {
		return refuse(CodeBadArgs, "%s is empty", field)
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
