/* The operator's console: the floor re-read every data-live-every seconds besides the live
 * stream (going on or off duty writes no event), and the console's forms, each a call to
 * /api/admin/... whose refusal is shown beside it in words.
 */
(function () {
  "use strict";

  function every() {
    document.querySelectorAll("[data-live-every]").forEach(function (root) {
      var seconds = parseInt(root.dataset.liveEvery, 10);
      if (seconds > 0) setInterval(function () { window.pitcrew.refresh(root); }, seconds * 1000);
    });
  }

  /* A form whose data-console-form names the API call: POST its fields as JSON (empty ones
   * left out), then reload the page or go where the answer says. */
  function forms() {
    document.addEventListener("submit", function (ev) {
      var form = ev.target.closest("[data-console-form]");
      if (!form) return;
      ev.preventDefault();
      var body = {};
      new FormData(form).forEach(function (value, name) {
        if (value !== "") body[name] = value;
      });
      var button = form.querySelector("[type=submit]");
      window.pitcrew.formError(form, null);
      window.pitcrew.busyWhile(button, "Working…", function () {
        return window.pitcrew.api("POST", form.dataset.consoleForm, body);
      }).then(function (answer) {
        form.dispatchEvent(new CustomEvent("pitcrew:done", { bubbles: true, detail: answer }));
        if (form.dataset.then === "stay") { window.pitcrew.busy(button, false); return; }
        window.location.reload();
      }).catch(function (err) {
        var shown = window.pitcrew.formError(form, err);
        if (shown && shown.focus) shown.focus();
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    every();
    forms();
  });
})();
