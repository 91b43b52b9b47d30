// Autosave with retry. htmx posts each answer as it is given; when the connection is lost (or
// the server is restarting) the answer stays in the page and is sent again, newest value first.
(function () {
  "use strict";
  var delays = [1000, 2000, 4000, 8000, 15000];
  var attempts = new WeakMap();
  var timers = new WeakMap();

  function show(fieldset, templateId, text) {
    var status = fieldset.querySelector(".q-status");
    var template = document.getElementById(templateId);
    if (!status || !template) return;
    status.innerHTML = template.innerHTML;
    if (text) status.firstElementChild.textContent = text;
  }

  // The progress line counts an item once, when its first answer is saved (in the page's digits).
  function countAnswered(fieldset) {
    if (fieldset.dataset.answered) return;
    fieldset.dataset.answered = "1";
    var counter = document.getElementById("answered-count");
    if (!counter) return;
    var count = (parseInt(counter.dataset.count, 10) || 0) + 1;
    counter.dataset.count = String(count);
    counter.textContent = new Intl.NumberFormat(document.documentElement.lang || "en").format(count);
  }

  function retry(fieldset) {
    var n = attempts.get(fieldset) || 0;
    attempts.set(fieldset, n + 1);
    clearTimeout(timers.get(fieldset));
    show(fieldset, "q-msg-retry");
    timers.set(fieldset, setTimeout(function () { htmx.trigger(fieldset, "change"); }, delays[Math.min(n, delays.length - 1)]));
  }

  document.addEventListener("htmx:beforeRequest", function (event) {
    var fieldset = event.detail.elt;
    if (!fieldset.matches || !fieldset.matches("fieldset.q-item")) return;
    clearTimeout(timers.get(fieldset));
    if (!attempts.get(fieldset)) show(fieldset, "q-msg-saving");
  });
  document.addEventListener("htmx:afterRequest", function (event) {
    var fieldset = event.detail.elt;
    if (!fieldset.matches || !fieldset.matches("fieldset.q-item")) return;
    var xhr = event.detail.xhr;
    if (event.detail.successful) { attempts.delete(fieldset); countAnswered(fieldset); return; }
    if (!xhr || xhr.status === 0 || xhr.status >= 500) { retry(fieldset); return; }
    attempts.delete(fieldset);
    show(fieldset, "q-msg-refused", xhr.responseText);  // 4xx: the reason, as the server said it
  });
  document.addEventListener("htmx:sendError", function (event) {
    var fieldset = event.detail.elt;
    if (fieldset.matches && fieldset.matches("fieldset.q-item")) retry(fieldset);
  });
  window.addEventListener("online", function () {
    document.querySelectorAll("fieldset.q-item").forEach(function (fieldset) {
      if (attempts.get(fieldset)) { clearTimeout(timers.get(fieldset)); htmx.trigger(fieldset, "change"); }
    });
  });
  // One click submits once; the server refuses a second submission anyway.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form.dataset.sent) { event.preventDefault(); return; }
    form.dataset.sent = "1";
  });
})();
