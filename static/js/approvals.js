// The approvals queue by keyboard: j / k move between corrections, x selects one for the bulk
// approve, a approves (the confirmation still asks, static/js/forms.js), r goes to the reason
// of a rejection (Enter sends it, after its confirmation), o opens the correction.
// A file, not an inline script: the Content-Security-Policy allows none.
(function () {
  "use strict";

  function rows() {
    return Array.prototype.slice.call(document.querySelectorAll("#queue tr[data-correction]"));
  }

  function current() {
    return document.querySelector("#queue tr[data-correction].current");
  }

  function select(row) {
    var before = current();
    if (before) {
      before.classList.remove("current");
      before.removeAttribute("aria-current");
    }
    if (!row) return;
    row.classList.add("current");
    row.setAttribute("aria-current", "true");
    row.focus({ preventScroll: true });
    row.scrollIntoView({ block: "nearest" });
  }

  function move(step) {
    var all = rows();
    if (!all.length) return;
    var at = all.indexOf(current());
    var next = at < 0 ? (step > 0 ? 0 : all.length - 1) : Math.min(Math.max(at + step, 0), all.length - 1);
    select(all[next]);
  }

  function typing(target) {
    if (!target || !target.tagName) return false;
    var name = target.tagName.toLowerCase();
    return name === "input" || name === "textarea" || name === "select" || target.isContentEditable;
  }

  document.addEventListener("keydown", function (event) {
    if (!document.getElementById("queue")) return;
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (typing(event.target)) {
      if (event.key === "Escape") event.target.blur();
      return;
    }
    var row = current();
    switch (event.key) {
      case "j": move(1); break;
      case "k": move(-1); break;
      case "x": {
        var box = row && row.querySelector("input[type=checkbox]");
        if (box) box.checked = !box.checked;
        break;
      }
      case "a": {
        var approve = row && row.querySelector(".approve-form button[type=submit]");
        if (approve) approve.click();  // a real submit: the confirmation asks first
        break;
      }
      case "r": {
        var reason = row && row.querySelector(".reject-form input[name=reason]");
        if (reason) reason.focus();
        break;
      }
      case "o": {
        if (row) window.location.assign(row.getAttribute("data-href"));
        break;
      }
      default: return;
    }
    event.preventDefault();
  });

  document.addEventListener("click", function (event) {
    var row = event.target.closest ? event.target.closest("#queue tr[data-correction]") : null;
    if (row) select(row);
  });

  // Said once the keys listen: a key pressed while the page still loads would be lost.
  document.documentElement.setAttribute("data-queue-keys", "ready");
})();
