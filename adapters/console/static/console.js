// settle console: refresh the live part of the page when a cycle moves.
// The page works without this script; it only saves pressing reload.
(function () {
  "use strict";
  var live = document.getElementById("live");
  if (!live || !window.EventSource) { return; }
  var busy = false, again = false;
  function refresh() {
    if (busy) { again = true; return; } // once more when this one is done
    busy = true;
    fetch(window.location.href, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (r) {
        if (r.redirected) { window.location.assign(r.url); return Promise.reject("signed out"); } // the session ended
        return r.ok ? r.text() : Promise.reject(r.status);
      })
      .then(function (html) {
        var doc = new DOMParser().parseFromString(html, "text/html");
        var next = doc.getElementById("live");
        if (next) { live.replaceChildren.apply(live, Array.from(next.childNodes)); }
      })
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
