// Trialog inbox: listens to the inbox's event stream (/inbox/events, which follows the Trialog
// server's live events for this account) and, when it says something happened, replaces the
// table body with the server's rows, so a new message appears without reloading. While the
// stream is not open (refused, or the server away) the rows are fetched every 30 seconds
// instead and the stream is tried again. Also shows the print button of the print view.
// Everything works without this script (a Refresh link, the browser's own Print).
(function () {
  "use strict";

  var printButtons = document.querySelectorAll("button[data-print]");
  Array.prototype.forEach.call(printButtons, function (b) {
    b.hidden = false;
    b.addEventListener("click", function () { window.print(); });
  });

  var body = document.getElementById("inbox-rows");
  if (!body) { return; }
  var status = document.getElementById("inbox-status");
  var last = body.innerHTML;
  var busy = false;
  // Rows to fetch once the tab is shown, the focus leaves them or the fetch under way ends.
  var pending = false;
  var SLOW = 30000;

  function swap(text) {
    var t = document.createElement("template");
    t.innerHTML = "<table>" + text + "</table>";
    var fresh = t.content.querySelector("tbody");
    if (!fresh || fresh.innerHTML === last) { return; }
    // Keep the keyboard where it was: do not replace the rows under a focused button.
    if (body.contains(document.activeElement)) { pending = true; return; }
    last = fresh.innerHTML;
    body.innerHTML = fresh.innerHTML;
    if (status && fresh.dataset.status) { status.textContent = fresh.dataset.status; }
  }

  function refresh() {
    if (busy || document.hidden) { pending = true; return; }
    busy = true;
    pending = false;
    fetch("/inbox/rows", { credentials: "same-origin", cache: "no-store" })
      .then(function (r) {
        if (r.redirected) {
          // Locked meanwhile: the page itself says what to do.
          window.location.assign("/inbox");
          return null;
        }
        if (!r.ok || r.headers.get("x-trialog-fragment") !== "inbox-rows") { return null; }
        return r.text();
      })
      .then(function (text) { if (text) { swap(text); } })
      .catch(function () { /* the server may be busy: the next event or tick tries again */ })
      .then(function () {
        busy = false;
        if (pending && !body.contains(document.activeElement)) { refresh(); }
      });
  }

  document.addEventListener("visibilitychange", function () {
    if (!document.hidden && pending) { refresh(); }
  });
  body.addEventListener("focusout", function () {
    // The focus moves after this event: look once it has.
    window.setTimeout(function () {
      if (pending && !body.contains(document.activeElement)) { refresh(); }
    }, 0);
  });

  var source = null;

  function listen() {
    if (!window.EventSource) { return; }
    source = new EventSource("/inbox/events");
    // Open (again): whatever arrived before the stream was following is in the rows.
    source.addEventListener("open", refresh);
    source.addEventListener("inbox", refresh);
    source.addEventListener("locked", function () {
      source.close();
      window.location.assign("/inbox");
    });
    source.addEventListener("error", function () {
      // Closed for good (refused, or no longer unlocked): the slow timer takes over. The
      // browser reconnects by itself otherwise.
      if (source && source.readyState === EventSource.CLOSED) {
        source = null;
        refresh();
      }
    });
  }

  window.setInterval(function () {
    if (source && source.readyState === EventSource.OPEN) { return; }
    refresh();
    if (!source) { listen(); }
  }, SLOW);
  listen();
})();
