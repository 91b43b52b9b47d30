/* Roll call taps: shown at once, saved by htmx, resent until the server has them.
 *
 * Each tap is idempotent on the server (it sets a value), so resending is safe. A resend is
 * skipped when a newer tap on the same field has replaced it. Network failures and 5xx answers
 * retry with backoff (and at once when the phone is back online); a 4xx answer is a refusal
 * that is shown and not retried.
 */
(function () {
  "use strict";
  var MAX_DELAY = 15000;
  var pending = new Set();

  function rowOf(elt) { return elt && elt.closest ? elt.closest("[data-tap-row]") : null; }
  function stateOf(row) { return row.querySelector("[data-save-state]"); }
  function setState(row, kind, text) {
    var el = stateOf(row);
    if (!el) return;
    el.className = "save-state " + kind;
    el.dataset.kind = kind;
    el.textContent = text;
  }
  function wanted(row, field) { return row.dataset["want_" + field]; }
  function valueOf(elt) { return elt.tagName === "TEXTAREA" ? elt.value : elt.dataset.value; }
  function press(elt) {
    var group = elt.closest("[role=group]");
    if (!group) return;
    group.querySelectorAll("button[data-field]").forEach(function (b) {
      b.setAttribute("aria-pressed", b === elt ? "true" : "false");
    });
  }
  function unpressToConfirmed(elt, row) {
    var group = elt.closest("[role=group]");
    if (!group) return;
    var confirmed = row.dataset["confirmed_" + elt.dataset.field] || "";
    group.querySelectorAll("button[data-field]").forEach(function (b) {
      b.setAttribute("aria-pressed", b.dataset.value === confirmed ? "true" : "false");
    });
  }

  document.addEventListener("htmx:beforeRequest", function (event) {
    var elt = event.detail.elt, row = rowOf(elt);
    if (!row || !elt.dataset.field) return;
    if (!elt.dataset.attempt) {
      elt.dataset.attempt = "0";
    }
    if (wanted(row, elt.dataset.field) !== undefined && wanted(row, elt.dataset.field) !== valueOf(elt)) {
      event.preventDefault();  // a newer tap on this field replaced this one
      return;
    }
    if (elt.tagName === "BUTTON") press(elt);
    row.dataset["want_" + elt.dataset.field] = valueOf(elt);
    setState(row, "saving", row.dataset.textSaving);
  });

  document.addEventListener("htmx:afterRequest", function (event) {
    var elt = event.detail.elt, row = rowOf(elt), xhr = event.detail.xhr;
    if (!row || !elt.dataset.field) return;
    var field = elt.dataset.field, value = valueOf(elt);
    if (event.detail.successful) {
      pending.delete(elt);
      elt.dataset.attempt = "0";
      row.dataset["confirmed_" + field] = value;
      if (wanted(row, field) === value) setState(row, "saved", xhr.responseText);
      return;
    }
    if (xhr && xhr.status >= 400 && xhr.status < 500) {
      pending.delete(elt);
      delete row.dataset["want_" + field];
      unpressToConfirmed(elt, row);
      setState(row, "failed", xhr.responseText || row.dataset.textFailed);
      return;
    }
    var attempt = parseInt(elt.dataset.attempt || "0", 10) + 1;
    elt.dataset.attempt = String(attempt);
    pending.add(elt);
    setState(row, "retrying", row.dataset.textRetrying);
    var delay = Math.min(1000 * Math.pow(2, attempt - 1), MAX_DELAY);
    setTimeout(function () { resend(elt); }, delay);
  });

  function resend(elt) {
    var row = rowOf(elt);
    if (!row || !pending.has(elt) || !document.body.contains(elt)) return;
    if (wanted(row, elt.dataset.field) !== valueOf(elt)) { pending.delete(elt); return; }
    htmx.trigger(elt, "retry");
  }

  document.addEventListener("click", function (event) {
    var elt = event.target.closest ? event.target.closest("button[data-field]") : null;
    if (!elt || !rowOf(elt)) return;
    // The newest tap wins: an older failed tap on the same field will not be resent.
    rowOf(elt).dataset["want_" + elt.dataset.field] = elt.dataset.value;
    elt.dataset.attempt = "0";
    press(elt);
  }, true);

  document.addEventListener("input", function (event) {
    var elt = event.target, row = rowOf(elt);
    if (row && elt.dataset.field) row.dataset["want_" + elt.dataset.field] = elt.value;
  }, true);

  window.addEventListener("online", function () { pending.forEach(resend); });

  window.addEventListener("beforeunload", function (event) {
    if (pending.size) { event.preventDefault(); event.returnValue = ""; }
  });
})();
