/* The intake form: one POST to /api/intake/start, then the new session's page. */
(function () {
  "use strict";
  var P = window.pitcrew;
  var form = document.querySelector("form[data-intake]");
  if (!form) return;
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

  // A retry of the same intake reuses its key (no duplicate session); an edited one gets a new key.
  form.addEventListener("input", function () { key = null; });

  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    P.formError(form, null);
    var button = form.querySelector("button[type=submit]");
    key = key || newKey();
    P.busyWhile(button, "Sending…", function () {
      return P.api("POST", "/api/intake/start", body(), { "Idempotency-Key": key });
    }).then(function (answer) {
      window.location.assign("/sessions/" + answer.session_id);
    }).catch(function (err) {
      P.formError(form, err, FRIENDLY).scrollIntoView({ block: "center", behavior: "smooth" });
    });
  });
})();
