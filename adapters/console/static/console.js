// settle console: refresh the live part of the page when a cycle moves.
// The page works without this script; it only saves pressing reload.
(function () {
  "use strict";
  var live = document.getElementById("live");
  if (!live || !window.EventSource) { return; }
  var busy = false;
  function refresh() {
    if (busy) { return; }
    busy = true;
    fetch(window.location.href, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
      .then(function (html) {
        var doc = new DOMParser().parseFromString(html, "text/html");
        var next = doc.getElementById("live");
        if (next) { live.replaceChildren.apply(live, Array.from(next.childNodes)); }
      })
      .catch(function () {})
      .finally(function () { busy = false; });
  }
  var first = true;
  var es = new EventSource("/events");
  es.addEventListener("cycle", function () {
    if (first) { first = false; return; } // the page already shows this state
    refresh();
  });
})();
