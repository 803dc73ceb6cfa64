/* Sign-in and sign-up: the JSON API sets the session cookie; then on to the right home. */
(function () {
  "use strict";
  var P = window.pitcrew;

  function fieldErrors(form, details) {
    form.querySelectorAll("[data-error-for]").forEach(function (p) { P.showError(p, ""); });
    var shown = false;
    (details || []).forEach(function (d) {
      var box = form.querySelector('[data-error-for="' + d.field + '"]');
      if (box) { P.showError(box, d.problem); shown = true; }
    });
    return shown;
  }

  function wire(form, send, after) {
    var error = form.querySelector("[data-form-error]");
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var button = form.querySelector("button[type=submit]");
      P.showError(error, "");
      P.busy(button, true, "One moment…");
      send(new FormData(form)).then(after).catch(function (err) {
        P.busy(button, false);
        var perField = err.code === "invalid" && fieldErrors(form, err.details);
        P.showError(error, perField ? "Please check the fields marked below." : err.message);
      });
    });
  }

  var login = document.querySelector("form[data-login]");
  if (login) {
    wire(login, function (data) {
      return P.api("POST", "/api/auth/login", {
        email: String(data.get("email") || "").trim(),
        password: String(data.get("password") || "")
      });
    }, function () {
      window.location.assign(login.dataset.next || "/");
    });
  }

  var signup = document.querySelector("form[data-signup]");
  if (signup) {
    wire(signup, function (data) {
      return P.api("POST", "/api/auth/register", {
        name: String(data.get("name") || "").trim(),
        email: String(data.get("email") || "").trim(),
        password: String(data.get("password") || "")
      });
    }, function () {
      window.location.assign("/intake");
    });
  }
})();
