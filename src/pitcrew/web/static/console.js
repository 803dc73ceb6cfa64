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
        if (form.dataset.then === "created") { created(form, answer); return; }
        if (form.dataset.then === "stay") {
          window.pitcrew.busy(button, false);
          window.pitcrew.toast("Done", (answer && answer.message) || "");
          return;
        }
        window.location.reload();
      }).catch(function (err) {
        var shown = window.pitcrew.formError(form, err);
        if (shown && shown.focus) shown.focus();
      });
    });
  }

  /* A new mechanic: say how they sign in. A one-time password is shown here, this once. */
  function created(form, answer) {
    var box = form.parentElement.querySelector("[data-created]");
    var who = answer.account.name + " (" + answer.account.email + ")";
    box.textContent = "";
    if (answer.password) {
      box.appendChild(document.createTextNode(who + " can sign in with this one-time password, shown only now: "));
      box.appendChild(window.pitcrew.el("code", { "data-password": "", text: answer.password }));
    } else {
      box.appendChild(document.createTextNode("We emailed " + who + " a link to set their password."));
    }
    box.hidden = false;
    form.reset();
    window.pitcrew.busy(form.querySelector("[type=submit]"), false);
  }

  document.addEventListener("DOMContentLoaded", function () {
    every();
    forms();
  });
})();
