/* Sign-in and sign-up: the JSON API sets the session cookie; then on to the right home. */
(function () {
  "use strict";
  var P = window.pitcrew;

  function wire(form, send, after) {
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var button = form.querySelector("button[type=submit]");
      P.formError(form, null);
      P.busyWhile(button, "One moment…", function () { return send(new FormData(form)); })
        .then(after).catch(function (err) { P.formError(form, err); });
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
