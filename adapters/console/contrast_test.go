package console_test

import (
	"fmt"
	"maps"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// contrastMin is WCAG 2.x's minimum contrast for normal text (success
// criterion 1.4.3, level AA).
const contrastMin = 4.5

// TestTextContrast reads the console's stylesheet as it is served and
// checks every pair of text and background colours it sets against WCAG
// 2.x's 4.5:1: each rule's own pair (its colour, or the one it inherits, on
// its background, or the one it sits on), and, because a class such as .bad
// or .ok may sit inside any box (a hold, a done step), every text colour
// meant for a light background on every light background the sheet has.
func TestTextContrast(t *testing.T) {
	css, err := os.ReadFile(filepath.Join("static", "console.css"))
	if err != nil {
		t.Fatal(err)
	}
	rules, err := parseCSS(string(css))
	if err != nil {
		t.Fatal(err)
	}
	body, ok := rules["body"]
	if !ok || body.fg == nil || body.bg == nil {
		t.Fatalf("body sets no colour and background: %+v", body)
	}
	// The box a rule's text sits on: the rule its selector descends from
	// ("header a" from "header"), else the page's.
	context := func(sel string) cssRule {
		for {
			i := strings.LastIndexByte(sel, ' ')
			if i < 0 {
				return body
			}
			sel = sel[:i]
			if r, ok := rules[sel]; ok && r.bg != nil {
				return r
			}
		}
	}
	type pair struct {
		what   string
		fg, bg rgb
	}
	var pairs []pair
	var lightBgs []rgb
	var darkText []pair // text colours meant for light boxes
	sels := slices.Sorted(maps.Keys(rules))
	for _, sel := range sels {
		r := rules[sel]
		if r.fg == nil && r.bg == nil {
			continue
		}
		fg, bg := r.fg, r.bg
		ctx := context(sel)
		if fg == nil {
			fg = ctx.fg
			if fg == nil {
				fg = body.fg
			}
		}
		if bg == nil {
			bg = ctx.bg
		}
		pairs = append(pairs, pair{sel, *fg, *bg})
		if r.bg != nil && luminance(*r.bg) > 0.5 && !slices.Contains(lightBgs, *r.bg) {
			lightBgs = append(lightBgs, *r.bg)
		}
		if r.fg != nil && luminance(*bg) > 0.5 {
			darkText = append(darkText, pair{sel, *r.fg, *bg})
		}
	}
	for _, fg := range darkText {
		for _, bg := range lightBgs {
			pairs = append(pairs, pair{fg.what + " on " + bg.String(), fg.fg, bg})
		}
	}
	if _, ok := rules["a"]; !ok {
		t.Error("the sheet leaves links to the browser's colours, which this test cannot check")
	}
	if len(pairs) < 8 || len(lightBgs) < 3 {
		t.Fatalf("the stylesheet parsed to %d pairs and %d light backgrounds: the parser missed rules", len(pairs), len(lightBgs))
	}
	for _, p := range pairs {
		c := contrast(p.fg, p.bg)
		t.Logf("%-40s %s on %s: %5.2f:1", p.what, p.fg, p.bg, c)
		if c < contrastMin {
			t.Errorf("%s: %s on %s has contrast %.2f:1, want at least %.1f:1", p.what, p.fg, p.bg, c, contrastMin)
		}
	}
}

// TestContrastFormula checks the luminance and ratio against the values
// WCAG's definition gives for known pairs.
func TestContrastFormula(t *testing.T) {
	for _, tc := range []struct {
		fg, bg string
		want   float64
	}{
		{"#000", "#fff", 21},
		{"#fff", "#fff", 1},
		{"#777", "#fff", 4.48}, // the classic just-fails grey
		{"#767676", "#fff", 4.54},
		{"#0000ff", "#ffffff", 8.59},
	} {
		fg, _ := parseColor(tc.fg)
		bg, _ := parseColor(tc.bg)
		if got := contrast(fg, bg); math.Abs(got-tc.want) > 0.01 {
			t.Errorf("%s on %s: %.3f, want %.2f", tc.fg, tc.bg, got, tc.want)
		}
		if contrast(fg, bg) != contrast(bg, fg) {
			t.Errorf("%s/%s: the ratio depends on the order", tc.fg, tc.bg)
		}
	}
	for _, bad := range []string{"#12", "#ggg", "rgb(1,2,3)", "teal"} {
		if _, err := parseColor(bad); err == nil {
			t.Errorf("%q parsed as a colour", bad)
		}
	}
}

type rgb struct{ r, g, b uint8 }

func (c rgb) String() string { return fmt.Sprintf("#%02x%02x%02x", c.r, c.g, c.b) }

// luminance is WCAG 2.x's relative luminance of an sRGB colour.
func luminance(c rgb) float64 {
	lin := func(v uint8) float64 {
		s := float64(v) / 255
		if s <= 0.04045 { // WCAG 2.x writes 0.03928; no 8-bit value lies between
			return s / 12.92
		}
		return math.Pow((s+0.055)/1.055, 2.4)
	}
	return 0.2126*lin(c.r) + 0.7152*lin(c.g) + 0.0722*lin(c.b)
}

// contrast is WCAG 2.x's contrast ratio (L1 + 0.05) / (L2 + 0.05), L1 the lighter.
func contrast(a, b rgb) float64 {
	la, lb := luminance(a), luminance(b)
	if la < lb {
		la, lb = lb, la
	}
	return (la + 0.05) / (lb + 0.05)
}

var hexColor = regexp.MustCompile(`^#([0-9a-fA-F]{3}|[0-9a-fA-F]{6})$`)

// parseColor reads #rgb, #rrggbb, white or black: the forms the sheet
// uses. Anything else is an error, so a colour this test cannot read fails
// it rather than going unchecked.
func parseColor(s string) (rgb, error) {
	switch strings.ToLower(s) {
	case "white":
		return rgb{255, 255, 255}, nil
	case "black":
		return rgb{}, nil
	}
	if !hexColor.MatchString(s) {
		return rgb{}, fmt.Errorf("colour %q: want #rgb or #rrggbb", s)
	}
	h := s[1:]
	if len(h) == 3 {
		h = string([]byte{h[0], h[0], h[1], h[1], h[2], h[2]})
	}
	v, _ := strconv.ParseUint(h, 16, 32)
	return rgb{uint8(v >> 16), uint8(v >> 8), uint8(v)}, nil
}

type cssRule struct{ fg, bg *rgb }

var comment = regexp.MustCompile(`(?s)/\*.*?\*/`)

// parseCSS reads the sheet's rules (no at-rules: the sheet has none, and
// one would fail here) into each selector's text colour and background.
// A selector list sets each of its selectors; a later rule adds to an
// earlier one, as the cascade does for the same selector.
func parseCSS(css string) (map[string]cssRule, error) {
	css = comment.ReplaceAllString(css, "")
	out := map[string]cssRule{}
	for _, block := range strings.Split(css, "}") {
		if strings.TrimSpace(block) == "" {
			continue
		}
		sels, decls, ok := strings.Cut(block, "{")
		if !ok || strings.Contains(sels, "@") {
			return nil, fmt.Errorf("cannot read rule %q", strings.TrimSpace(block))
		}
		var r cssRule
		for _, d := range strings.Split(decls, ";") {
			prop, val, ok := strings.Cut(d, ":")
			if !ok {
				continue
			}
			prop, val = strings.TrimSpace(prop), strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(val), "!important"))
			switch prop {
			case "color", "background-color", "background":
				c, err := parseColor(strings.Fields(val)[0])
				if err != nil {
					return nil, fmt.Errorf("%s { %s: %s }: %w", strings.TrimSpace(sels), prop, val, err)
				}
				if prop == "color" {
					r.fg = &c
				} else {
					r.bg = &c
				}
			}
		}
		for _, sel := range strings.Split(sels, ",") {
			sel = strings.Join(strings.Fields(sel), " ")
			prev := out[sel]
			if r.fg != nil {
				prev.fg = r.fg
			}
			if r.bg != nil {
				prev.bg = r.bg
			}
			out[sel] = prev
		}
	}
	return out, nil
}
