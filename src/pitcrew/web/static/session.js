/* The session room: its buttons and forms call the JSON API; live.js redraws what changed. */
(function () {
  "use strict";
  var P = window.pitcrew;
  var room = document.querySelector("[data-session]");
  if (!room) return;
  var id = room.dataset.session;
  var base = "/api/sessions/" + encodeURIComponent(id);

  function errorBox(node) {
    var part = node.closest("[data-part]");
    return (part && part.querySelector("[data-form-error]")) || document.querySelector("[data-form-error]");
  }

  function run(button, label, call, then) {
    var box = errorBox(button);
    P.showError(box, "");
    return P.busyWhile(button, label, call).then(function (answer) {
      if (then) return then(answer);
      return P.refresh(room);
    }).catch(function (err) {
      P.showError(box, err.message);
      if (err.status === 409) P.refresh(room);
    });
  }

  room.addEventListener("click", function (ev) {
    var button = ev.target.closest("[data-action]");
    if (!button) return;
    var action = button.dataset.action;
    if (action === "join") {
      run(button, "Joining…", function () { return P.api("POST", base + "/join"); });
    } else if (action === "release") {
      run(button, "Handing back…", function () { return P.api("POST", base + "/release"); },
        function () { window.location.assign("/mechanic/dashboard"); });
    } else if (action === "request-again") {
      run(button, "Sending…", function () { return P.api("POST", base + "/request-again"); },
        function (answer) { window.location.assign("/sessions/" + answer.session_id); });
    }
  });

  room.addEventListener("submit", function (ev) {
    var form = ev.target.closest("[data-action-form]");
    if (!form) return;
    ev.preventDefault();
    var kind = form.dataset.actionForm;
    var data = new FormData(form);
    var button = form.querySelector("button[type=submit]");
    if (kind === "message") {
      var text = String(data.get("body") || "").trim();
      if (!text) return;
      var field = form.querySelector("textarea");
      run(button, "Sending…", function () { return P.api("POST", base + "/messages", { body: text }); },
        function () {
          P.busy(button, false);
          field.value = "";
          field.focus();
          return P.refresh(room);
        });
    } else if (kind === "complete") {
      run(button, "Completing…", function () {
        return P.api("POST", base + "/complete", { summary: String(data.get("summary") || "").trim() });
      });
    } else if (kind === "rate") {
      run(button, "Sending…", function () {
        return P.api("POST", base + "/rating", {
          rating: Number(data.get("rating")),
          comment: String(data.get("comment") || "").trim()
        });
      });
    } else if (kind === "cancel") {
      run(button, "Cancelling…", function () {
        return P.api("POST", base + "/cancel", { reason: String(data.get("reason") || "").trim() });
      });
    }
  });

  // Enter sends, Shift+Enter starts a new line; the box grows with what is typed.
  room.addEventListener("keydown", function (ev) {
    var box = ev.target;
    if (!box.matches || !box.matches(".composer textarea")) return;
    if (ev.key === "Enter" && !ev.shiftKey && !ev.isComposing) {
      ev.preventDefault();
      box.form.requestSubmit();
    }
  });
  room.addEventListener("input", function (ev) {
    var box = ev.target;
    if (!box.matches || !box.matches(".composer textarea")) return;
    box.style.height = "auto";
    box.style.height = Math.min(box.scrollHeight, 160) + "px";
  });

  function scrollChat() {
    var list = room.querySelector("[data-messages]");
    if (list) list.scrollTop = list.scrollHeight;
  }

  room.addEventListener("pitcrew:refreshed", function (ev) {
    if (ev.detail.changed.indexOf("chat") >= 0) scrollChat();
  });
  room.addEventListener("pitcrew:gone", function () {
    P.toast("This session is no longer yours", "Taking you back.");
    setTimeout(function () { window.location.assign("/"); }, 1500);
  });
  scrollChat();
})();
