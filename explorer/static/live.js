// Keeps the home page live: follows the explorer's /events stream when
// the page says it exists, else polls /api/tip, and swaps in the page's
// live fragment when the tip moves. Every page works without it.
(function () {
  "use strict";
  function ago(s) {
    s = Math.round(s);
    if (s < 0) return "just now";
    if (s < 60) return s + " s ago";
    if (s < 3600) return Math.floor(s / 60) + " min ago";
    if (s < 86400) return Math.floor(s / 3600) + " h ago";
    return Math.floor(s / 86400) + " d ago";
  }
  function tick() {
    var now = Date.now() / 1000;
    document.querySelectorAll("[data-time]").forEach(function (e) {
      e.textContent = ago(now - Number(e.getAttribute("data-time")));
    });
  }
  setInterval(tick, 1000);

  var live = document.getElementById("live");
  if (!live) return;
  var busy = false, again = false;
  function refresh() {
    if (busy) { again = true; return; }
    busy = true;
    fetch("/fragment/home", { cache: "no-store" }).then(function (r) {
      if (!r.ok) throw new Error(r.status);
      return r.text();
    }).then(function (html) {
      var t = document.createElement("template");
      t.innerHTML = html.trim();
      var n = t.content.firstElementChild;
      if (n && n.id === "live") { live.replaceWith(n); live = n; tick(); }
    }).catch(function () {}).finally(function () {
      busy = false;
      if (again) { again = false; refresh(); }
    });
  }
  function poll() {
    document.body.setAttribute("data-live", "poll");
    setInterval(function () {
      fetch("/api/tip", { cache: "no-store" }).then(function (r) { return r.json(); }).then(function (t) {
        if (t.hash !== live.getAttribute("data-tip")) refresh();
      }).catch(function () {});
    }, 2000);
  }
  if (!window.EventSource || document.body.getAttribute("data-events") !== "1") { poll(); return; }
  // The browser reconnects a dropped stream by itself (resuming from the
  // last event id); a refused one is closed for good, so poll instead.
  var es = new EventSource("/events?types=block,unblock");
  document.body.setAttribute("data-live", "events");
  ["block", "unblock", "reset"].forEach(function (k) { es.addEventListener(k, refresh); });
  es.onerror = function () {
    if (es.readyState === EventSource.CLOSED) { es = null; poll(); }
  };
  es.onopen = refresh; // catch up with what happened while (re)connecting
})();
