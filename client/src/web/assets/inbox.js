// Trialog inbox: replaces the table body with the server's rows every few seconds, so a new
// message appears without reloading; shows the print button of the print view. Everything
// works without this script (a Refresh link, the browser's own Print).
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

  function swap(text) {
    var t = document.createElement("template");
    t.innerHTML = "<table>" + text + "</table>";
    var fresh = t.content.querySelector("tbody");
    if (!fresh || fresh.innerHTML === last) { return; }
    // Keep the keyboard where it was: do not replace the rows under a focused button.
    if (body.contains(document.activeElement)) { return; }
    last = fresh.innerHTML;
    body.innerHTML = fresh.innerHTML;
    if (status && fresh.dataset.status) { status.textContent = fresh.dataset.status; }
  }

  function poll() {
    if (busy || document.hidden) { return; }
    busy = true;
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
      .catch(function () { /* the server may be busy: try again at the next tick */ })
      .then(function () { busy = false; });
  }

  window.setInterval(poll, 3000);
})();
