/* The intake form: one POST to /api/intake/start, then the new session's page. */
(function () {
  "use strict";
  var P = window.pitcrew;
  var form = document.querySelector("form[data-intake]");
  if (!form) return;
  var error = form.querySelector("[data-form-error]");
  var key = null;
  var FRIENDLY = {
    "vehicle.vin": "A VIN is 11 to 17 letters and digits (never I, O or Q).",
    "vehicle.year": "Enter the model year, for example 2016."
  };

  function newKey() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    var bytes = new Uint8Array(16);
    crypto.getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
  }

  function number(value) {
    var text = String(value || "").replace(/[\s,]/g, "");
    return text === "" ? undefined : Number(text);
  }

  function body() {
    var d = new FormData(form);
    var vehicle = {
      year: number(d.get("year")),
      make: String(d.get("make") || "").trim(),
      model: String(d.get("model") || "").trim()
    };
    var mileage = number(d.get("mileage"));
    if (mileage !== undefined) vehicle.mileage = mileage;
    var vin = String(d.get("vin") || "").trim();
    if (vin) vehicle.vin = vin.toUpperCase();
    return {
      vehicle: vehicle,
      issue_description: String(d.get("issue_description") || "").trim(),
      session_type: d.get("session_type"),
      plan_code: d.get("plan_code")
    };
  }

  function clearErrors() {
    P.showError(error, "");
    form.querySelectorAll("[data-error-for]").forEach(function (p) { P.showError(p, ""); });
    form.querySelectorAll("[aria-invalid]").forEach(function (f) { f.removeAttribute("aria-invalid"); });
  }

  // A retry of the same intake reuses its key (no duplicate session); an edited one gets a new key.
  form.addEventListener("input", function () { key = null; });

  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    clearErrors();
    var button = form.querySelector("button[type=submit]");
    key = key || newKey();
    P.busy(button, true, "Sending…");
    P.api("POST", "/api/intake/start", body(), { "Idempotency-Key": key }).then(function (answer) {
      window.location.assign("/sessions/" + answer.session_id);
    }).catch(function (err) {
      P.busy(button, false);
      var marked = 0;
      (err.details || []).forEach(function (d) {
        var box = form.querySelector('[data-error-for="' + d.field + '"]');
        if (!box) return;
        P.showError(box, FRIENDLY[d.field] || d.problem);
        var input = box.parentElement.querySelector("input, textarea");
        if (input) input.setAttribute("aria-invalid", "true");
        marked++;
      });
      P.showError(error, marked ? "Please check the fields marked below." : err.message);
      (form.querySelector("[aria-invalid]") || error).scrollIntoView({ block: "center", behavior: "smooth" });
    });
  });
})();
