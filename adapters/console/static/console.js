// settle console: refresh the live part of the page when a cycle moves.
// The page works without this script; it only saves pressing reload.
// The server-sent event stream /events says when; htmx (vendored, npm's
// htmx.org 2.0.11) fetches the page again and swaps in its #live section.
(function () {
  "use strict";
  if (!document.getElementById("live") || !window.EventSource || !window.htmx) { return; }
  // A session that ended answers with the sign-in page: go there.
  document.body.addEventListener("htmx:beforeSwap", function (e) {
    var to = e.detail.xhr && e.detail.xhr.responseURL;
    if (to && new URL(to).pathname === "/login") {
      e.detail.shouldSwap = false;
      window.location.assign(to);
    }
  });
  var busy = false, again = false;
  function refresh() {
    if (busy) { again = true; return; } // once more when this one is done
    busy = true;
    htmx.ajax("GET", window.location.href, { target: "#live", select: "#live", swap: "outerHTML" })
      .catch(function () {})
      .finally(function () {
        busy = false;
        if (again) { again = false; refresh(); }
      });
  }
  // Every event refreshes, the first one too: a cycle may have moved
  // between the page's rendering and the stream's start.
  var es = new EventSource("/events");
  es.onopen = function () { document.body.setAttribute("data-live", "connected"); };
  es.onerror = function () { document.body.setAttribute("data-live", "reconnecting"); };
  es.addEventListener("cycle", function () {
    refresh();
    document.body.setAttribute("data-events", String(Number(document.body.getAttribute("data-events") || "0") + 1));
  });
})();
