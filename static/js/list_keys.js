// A list by keyboard (the breaks list, the approvals queue): j / k move between rows, x selects
// one for the bulk actions, o (or Enter on the row) opens it. A list adds keys of its own on its
// table: data-key-click-a="selector" clicks that control of the row (a real submit: a
// confirmation still asks, static/js/forms.js), data-key-focus-r="selector" moves to that field.
// The row in hand is outlined and announced (aria-current); typing in a field is left alone.
// A file, not an inline script: the Content-Security-Policy allows none.
(function () {
  "use strict";

  function table() {
    return document.querySelector("table[data-keys]");
  }

  function rows(list) {
    return Array.prototype.slice.call(list.querySelectorAll("tbody tr[data-href]"));
  }

  function current(list) {
    return list.querySelector("tbody tr[data-href].current");
  }

  function select(list, row) {
    var before = current(list);
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

  function move(list, step) {
    var all = rows(list);
    if (!all.length) return;
    var at = all.indexOf(current(list));
    var next = at < 0 ? (step > 0 ? 0 : all.length - 1) : Math.min(Math.max(at + step, 0), all.length - 1);
    select(list, all[next]);
  }

  function typing(target) {
    if (!target || !target.tagName) return false;
    var name = target.tagName.toLowerCase();
    return name === "input" || name === "textarea" || name === "select" || target.isContentEditable;
  }

  function own(list, row, key) {
    // The list's own keys: true when one was handled.
    var suffix = key.length === 1 ? key.toUpperCase() : "";
    var click = suffix && list.dataset["keyClick" + suffix];
    var focus = suffix && list.dataset["keyFocus" + suffix];
    var control = row && (click || focus) ? row.querySelector(click || focus) : null;
    if (!control) return Boolean(click || focus);
    if (click) control.click();
    else control.focus();
    return true;
  }

  document.addEventListener("keydown", function (event) {
    var list = table();
    if (!list) return;
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (typing(event.target)) {
      if (event.key === "Escape") event.target.blur();
      return;
    }
    var row = current(list);
    switch (event.key) {
      case "j": move(list, 1); break;
      case "k": move(list, -1); break;
      case "x": {
        var box = row && row.querySelector("input[type=checkbox]");
        if (box) box.checked = !box.checked;
        break;
      }
      case "o": {
        if (row) window.location.assign(row.getAttribute("data-href"));
        break;
      }
      case "Enter": {
        if (!row || event.target !== row) return;
        window.location.assign(row.getAttribute("data-href"));
        break;
      }
      default:
        if (!own(list, row, event.key)) return;
    }
    event.preventDefault();
  });

  document.addEventListener("click", function (event) {
    var list = table();
    var row = list && event.target.closest ? event.target.closest("tbody tr[data-href]") : null;
    if (row && list.contains(row)) select(list, row);
  });

  // Said once the keys listen: a key pressed while the page still loads would be lost.
  document.documentElement.setAttribute("data-list-keys", "ready");
})();
