/* Signing in, signing up, confirming an address and choosing a new password: the JSON API
 * sets the session cookie; then on to the right home. A link from an email carries its
 * token in the fragment (#token=…), which never reaches the server's logs. */
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

  function field(data, name) { return String(data.get(name) || "").trim(); }

  /* "Check your email": the form gives way to the message (the answer is the same for any
   * address, so the page cannot say more). */
  function sent(form, answer) {
    var box = document.querySelector("[data-sent]");
    box.textContent = answer.message;
    box.hidden = false;
    if (form) form.hidden = true;
    box.setAttribute("tabindex", "-1");
    box.focus();
  }

  /* The token of the emailed link, taken out of the address bar once read. */
  function linkToken() {
    var found = window.location.hash.match(/token=([^&]+)/);
    if (found) history.replaceState(null, "", window.location.pathname);
    return found ? decodeURIComponent(found[1]) : "";
  }

  /* The API call of a link's page, or, when the address lost its token, the reason why not. */
  function withToken(token, call) {
    if (token) return call();
    return Promise.reject({
      message: "This link is incomplete. Open the whole link from the email, or ask for a new one.",
      details: []
    });
  }

  var login = document.querySelector("form[data-login]");
  if (login) {
    var resend = login.querySelector("[data-resend]");
    wire(login, function (data) {
      resend.hidden = true;
      return P.api("POST", "/api/auth/login", {
        email: field(data, "email"),
        password: String(data.get("password") || "")
      }).catch(function (err) {
        resend.hidden = err.code !== "email_unverified";
        throw err;
      });
    }, function () {
      window.location.assign(login.dataset.next || "/");
    });
    resend.addEventListener("click", function () {
      var email = field(new FormData(login), "email");
      P.busyWhile(resend, "Sending…", function () {
        return P.api("POST", "/api/auth/verify-email/resend", { email: email });
      }).then(function (answer) {
        P.formError(login, null);
        resend.hidden = true;
        sent(null, answer);
      }).catch(function (err) { P.formError(login, err); });
    });
  }

  var signup = document.querySelector("form[data-signup]");
  if (signup) {
    wire(signup, function (data) {
      return P.api("POST", "/api/auth/register", {
        name: field(data, "name"),
        email: field(data, "email"),
        password: String(data.get("password") || "")
      });
    }, function (answer) {
      if (answer && answer.message) sent(signup, answer);  /* email on: confirm first */
      else window.location.assign("/intake");
    });
  }

  var forgot = document.querySelector("form[data-forgot]");
  if (forgot) {
    wire(forgot, function (data) {
      return P.api("POST", "/api/auth/password-reset", { email: field(data, "email") });
    }, function (answer) { sent(forgot, answer); });
  }

  var reset = document.querySelector("form[data-reset]");
  if (reset) {
    var resetToken = linkToken();
    wire(reset, function (data) {
      return withToken(resetToken, function () {
        return P.api("POST", "/api/auth/password-reset/confirm", {
          token: resetToken,
          password: String(data.get("password") || "")
        });
      });
    }, function () { window.location.assign("/"); });
  }

  var verify = document.querySelector("form[data-verify]");
  if (verify) {
    var verifyToken = linkToken();
    wire(verify, function () {
      return withToken(verifyToken, function () {
        return P.api("POST", "/api/auth/verify-email", { token: verifyToken });
      });
    }, function () { window.location.assign("/intake"); });
  }
})();
