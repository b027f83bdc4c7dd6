package console_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/net/html"
)

// TestPagesAccessibleWithoutJavaScript walks every page as an operator
// (who sees every form) on a settled cycle with a break and checks what
// works without a script and with a keyboard and a screen reader: every
// form submits by itself (a method, an action on this site, a submit
// button), every POST form carries the CSRF token, every visible field
// has a label (a <label for>, an enclosing label or aria-label), no
// element has an inline event handler or a javascript: link, every data
// table has header cells, the page has one <h1> and a language, and the
// only scripts are the two served from /static on live pages.
func TestPagesAccessibleWithoutJavaScript(t *testing.T) {
	w := newWorld(t)
	w.user("olga", "operator")
	payment, key := w.settledWithBreak()
	c := w.client()
	c.login("olga", password("olga"))
	pages := []string{"/", "/cycles/" + string(day), "/cycles/" + string(day) + "/ledger", "/breaks", "/break?key=" + url.QueryEscape(key),
		"/requests", "/requests?all=1", "/caps", "/trace", "/trace?q=" + url.QueryEscape(payment), "/verify", "/verify?date=" + string(day),
		"/actions", "/ops/poison", "/ops/sftp", "/ledger"}
	for _, path := range pages {
		r := c.get(path)
		if r.status != http.StatusOK || r.doc == nil {
			t.Fatalf("%s: %d", path, r.status)
		}
		checkPage(t, path, r.doc)
	}
	anon := w.client()
	checkPage(t, "/login", anon.get("/login").doc)
}

func checkPage(t *testing.T, path string, doc *html.Node) {
	t.Helper()
	if attrOf(find(doc, "html"), "lang") == "" {
		t.Errorf("%s: no lang on <html>", path)
	}
	if n := len(findAll(doc, "h1")); n != 1 {
		t.Errorf("%s: %d <h1>", path, n)
	}
	labelled := map[string]bool{}
	for _, l := range findAll(doc, "label") {
		if f := attrOf(l, "for"); f != "" {
			labelled[f] = true
		}
	}
	var walk func(n *html.Node, inLabel bool)
	walk = func(n *html.Node, inLabel bool) {
		if n.Type == html.ElementNode {
			for _, a := range n.Attr {
				if strings.HasPrefix(a.Key, "on") || strings.HasPrefix(strings.TrimSpace(strings.ToLower(a.Val)), "javascript:") {
					t.Errorf("%s: <%s %s=%q>: script in markup", path, n.Data, a.Key, a.Val)
				}
			}
			switch n.Data {
			case "label":
				inLabel = true
			case "input", "textarea", "select":
				typ := attrOf(n, "type")
				if typ != "hidden" && typ != "submit" && !inLabel && !labelled[attrOf(n, "id")] && attrOf(n, "aria-label") == "" {
					t.Errorf("%s: <%s name=%q id=%q> has no label", path, n.Data, attrOf(n, "name"), attrOf(n, "id"))
				}
			case "script":
				if src := attrOf(n, "src"); src != "/static/htmx.min.js" && src != "/static/console.js" {
					t.Errorf("%s: script %q", path, src)
				}
			case "table":
				if len(findAll(n, "th")) == 0 {
					t.Errorf("%s: table %q without header cells", path, attrOf(n, "id"))
				}
			}
		}
		for ch := n.FirstChild; ch != nil; ch = ch.NextSibling {
			walk(ch, inLabel)
		}
	}
	walk(doc, false)
	for _, f := range findAll(doc, "form") {
		method, action := strings.ToLower(attrOf(f, "method")), attrOf(f, "action")
		if method != "get" && method != "post" || !strings.HasPrefix(action, "/") || strings.HasPrefix(action, "//") {
			t.Errorf("%s: form method %q action %q does not submit to this site by itself", path, method, action)
		}
		submit := false
		for _, b := range findAll(f, "button") {
			if typ := attrOf(b, "type"); typ == "" || typ == "submit" {
				submit = true
			}
		}
		if !submit {
			t.Errorf("%s: form %q has no submit button", path, action)
		}
		if method == "post" && attrOf(find(f, "input[name=csrf]"), "value") == "" {
			t.Errorf("%s: POST form %q without its CSRF token", path, action)
		}
	}
}
