// The compose page's convenience, never its function: everything works without it.
// - Ticking a recipient or choosing a kind applies it at once (the consent of each
//   recipient greys out what would not go), as the "Apply" button does.
// - After typing stops, the leak guard is asked again (the same POST as the "Check"
//   button, in the background) and its findings replace those shown beside each field.
(function () {
  "use strict";
  var form = document.getElementById("compose-form");
  if (!form) { return; }
  var apply = document.getElementById("apply");
  form.querySelectorAll("[data-autosubmit]").forEach(function (el) {
    el.addEventListener("change", function () {
      if (apply) { apply.click(); }
    });
  });
  var timer = null;
  function recheck() {
    var body = new URLSearchParams(new FormData(form));
    body.set("action", "check");
    fetch(form.action, {
      method: "POST",
      body: body,
      credentials: "same-origin",
      headers: { "Content-Type": "application/x-www-form-urlencoded" }
    }).then(function (r) { return r.text(); }).then(function (html) {
      var doc = new DOMParser().parseFromString(html, "text/html");
      document.querySelectorAll("[data-findings]").forEach(function (box) {
        var fresh = doc.getElementById(box.id);
        if (fresh) { box.replaceChildren.apply(box, Array.from(fresh.childNodes)); }
      });
    }).catch(function () { /* the Check button still works */ });
  }
  form.querySelectorAll("textarea, input[type=text]").forEach(function (el) {
    el.addEventListener("input", function () {
      if (timer) { clearTimeout(timer); }
      timer = setTimeout(recheck, 1200);
    });
  });
})();
