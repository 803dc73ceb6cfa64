/* The intake form: one POST to /api/intake/start, then the new session's page. */
(function () {
  "use strict";
  var P = window.pitcrew;
  var form = document.querySelector("form[data-intake]");
  if (!form) return;
  var key = null;

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

  // One of my cars, or a new one: the new car's fields take part only when it is chosen.
  var newCar = form.querySelector("[data-new-car]");
  function chosenCar() {
    var picked = form.querySelector('input[name="vehicle_choice"]:checked');
    return picked && picked.value !== "new" ? picked.value : null;
  }
  function showNewCar() {
    var saved = chosenCar() !== null;
    newCar.hidden = saved;
    newCar.querySelectorAll("input").forEach(function (f) { f.disabled = saved; });
  }
  form.addEventListener("change", function (ev) {
    if (ev.target.name === "vehicle_choice") showNewCar();
  });

  function body() {
    var d = new FormData(form);
    var common = {
      issue_description: String(d.get("issue_description") || "").trim(),
      session_type: d.get("session_type"),
      plan_code: d.get("plan_code")
    };
    var car = chosenCar();
    if (car !== null) {
      common.vehicle_id = car;
      var today = number(d.get("mileage"));
      if (today !== undefined) common.mileage = today;
      return common;
    }
    var vehicle = {
      year: number(d.get("year")),
      make: String(d.get("make") || "").trim(),
      model: String(d.get("model") || "").trim()
    };
    var mileage = number(d.get("mileage"));
    if (mileage !== undefined) vehicle.mileage = mileage;
    var vin = String(d.get("vin") || "").trim();
    if (vin) vehicle.vin = vin.toUpperCase();
    common.vehicle = vehicle;
    return common;
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
      // Sent: this form's place in the history becomes the waiting page (marked #sent, so the
      // browser keeps both entries), and Back finds the request rather than a half-filled form.
      var waitingPage = "/sessions/" + answer.session_id;
      history.replaceState(null, "", waitingPage + "#sent");
      window.location.assign(waitingPage);
    }).catch(function (err) {
      P.formError(form, err).scrollIntoView({ block: "center", behavior: "smooth" });
    });
  });
})();
