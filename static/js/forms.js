// Send each form once: after the first submit its buttons are disabled until the next page.
// The server recognises a repeat too (config/form_tokens.py); this spares the second request.
(function () {
  "use strict";

  function buttons(form) {
    var inside = Array.prototype.slice.call(
      form.querySelectorAll("button:not([type=button]):not([type=reset]), input[type=submit]"));
    var outside = form.id ? Array.prototype.slice.call(document.querySelectorAll(
      "button[form='" + form.id + "'], input[type=submit][form='" + form.id + "']")) : [];
    return inside.concat(outside);
  }

  function setSending(form, sending) {
    if (sending) {
      form.setAttribute("data-sending", "");
      form.setAttribute("aria-busy", "true");
    } else {
      form.removeAttribute("data-sending");
      form.removeAttribute("aria-busy");
    }
    buttons(form).forEach(function (button) { button.disabled = sending; });
  }

  function isPost(form) {
    return (form.getAttribute("method") || "get").toLowerCase() === "post";
  }

  function newToken() {
    var bytes = new Uint8Array(18);
    window.crypto.getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (b) {
      return ("0" + b.toString(16)).slice(-2);
    }).join("");
  }

  // A form (or the button that sent it) with data-confirm asks first; declined, nothing is sent.
  // Registered before the listener below, which then sees the declined submit as prevented.
  // (An attribute and a listener instead of onsubmit="return confirm(…)": the
  // Content-Security-Policy allows no inline event handlers.)
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!(form instanceof HTMLFormElement)) return;
    var submitter = event.submitter;
    var question = (submitter && submitter.getAttribute("data-confirm")) ||
      form.getAttribute("data-confirm");
    if (question && !form.hasAttribute("data-sending") && !window.confirm(question)) {
      event.preventDefault();
    }
  });

  // Plain forms: the page is left, so the buttons stay disabled. Disabling waits a tick, until
  // the browser has read the form's fields (a disabled submit button would send no value).
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!(form instanceof HTMLFormElement) || !isPost(form)) return;  // GET forms: unaffected
    if (form.hasAttribute("data-sending")) {
      event.preventDefault();
      return;
    }
    if (event.defaultPrevented) return;  // a declined confirm(), or htmx sends it (below)
    form.setAttribute("data-sending", "");
    window.setTimeout(function () { setSending(form, true); }, 0);
  });

  // htmx forms stay on the page: disabled while in flight, then given a fresh token, so that
  // sending them again on purpose is a new submission and not a repeat of the first.
  document.addEventListener("htmx:beforeRequest", function (event) {
    var form = event.detail.elt.closest ? event.detail.elt.closest("form") : null;
    if (!form || !isPost(form)) return;
    if (form.hasAttribute("aria-busy")) {
      event.preventDefault();
      return;
    }
    setSending(form, true);
  });
  document.addEventListener("htmx:afterRequest", function (event) {
    var form = event.detail.elt.closest ? event.detail.elt.closest("form") : null;
    if (!form || !isPost(form) || !document.contains(form)) return;
    if (event.detail.successful) {
      form.querySelectorAll("input[name=form_token]").forEach(function (input) {
        input.value = newToken();
      });
    }
    setSending(form, false);
  });

  // Back to a page kept by the browser: its forms can be used again (a repeat of the same
  // submission is still recognised by the server, and answered with its first outcome).
  window.addEventListener("pageshow", function (event) {
    if (!event.persisted) return;
    document.querySelectorAll("form[data-sending]").forEach(function (form) {
      setSending(form, false);
    });
  });
})();
