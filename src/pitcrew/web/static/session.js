/* The session room: its buttons and forms call the JSON API; live.js redraws what changed. */
(function () {
  "use strict";
  var P = window.pitcrew;
  var room = document.querySelector("[data-session]");
  if (!room) return;
  var id = room.dataset.session;
  var base = "/api/sessions/" + encodeURIComponent(id);

  /* Drafts: what is typed into a [data-draft] field (the chat message, the report) is kept in
   * this browser per person, session and field, so a reload or a lost connection loses
   * nothing; a draft is forgotten once what it drafted is sent. */
  var draftPrefix = "pitcrew:draft:" + (document.body.dataset.user || "") + ":" + id + ":";
  function draftStore() {
    try { return window.localStorage; } catch (e) { return null; }  // storage turned off
  }
  function saveDraft(field) {
    var store = draftStore();
    if (!store || !field.name) return;
    try {
      if (field.value) store.setItem(draftPrefix + field.name, field.value);
      else store.removeItem(draftPrefix + field.name);
    } catch (e) { /* storage full: the draft lives only on the page */ }
  }
  function forgetDrafts(form) {
    var store = draftStore();
    if (!store) return;
    form.querySelectorAll("[data-draft]").forEach(function (f) { store.removeItem(draftPrefix + f.name); });
  }
  function restoreDrafts(root) {
    var store = draftStore();
    if (!store) return;
    root.querySelectorAll("[data-draft]").forEach(function (f) {
      var kept = store.getItem(draftPrefix + f.name);
      if (kept && !f.value) {
        f.value = kept;
        grow(f);
      }
    });
  }
  function grow(box) {
    if (!box.matches(".composer textarea")) return;
    box.style.height = "auto";
    box.style.height = Math.min(box.scrollHeight, 160) + "px";
  }

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

  /* The report a session completes with: only the summary is required; a step row left
   * empty is no step, and trouble codes may be typed with spaces or commas between them. */
  function text(node, name) { return String((node.querySelector('[name="' + name + '"]') || {}).value || "").trim(); }
  function amount(node, name) {
    var value = text(node, name).replace(/[\s,]/g, "");
    return value === "" ? undefined : Number(value);
  }

  function reportBody(form) {
    var steps = [];
    form.querySelectorAll("[data-step-row]").forEach(function (row) {
      var step = { text: text(row, "step_text"), urgency: text(row, "step_urgency") || "soon" };
      var low = amount(row, "step_cost_min"), high = amount(row, "step_cost_max");
      if (low !== undefined) step.cost_min = low;
      if (high !== undefined) step.cost_max = high;
      if (step.text || low !== undefined || high !== undefined) steps.push(step);
    });
    var photos = [];
    form.querySelectorAll('input[name="photo_ids"]:checked').forEach(function (box) { photos.push(box.value); });
    return {
      summary: text(form, "summary"),
      findings: text(form, "findings"),
      steps: steps,
      trouble_codes: text(form, "trouble_codes").split(/[\s,;]+/).filter(Boolean),
      photo_ids: photos
    };
  }

  // "steps.0.text" is told beside the steps as "Step 1: …"; a code or photo beside its field.
  function grouped(err) {
    var details = (err.details || []).map(function (d) {
      var parts = String(d.field).split(".");
      if (parts[0] === "steps" && parts.length > 1) {
        return { field: "steps", problem: "Step " + (Number(parts[1]) + 1) + ": " + d.problem };
      }
      return { field: parts[0], problem: d.problem };
    });
    return { status: err.status, message: err.message, details: details };
  }

  function complete(form, button) {
    P.formError(form, null);
    P.busyWhile(button, "Completing…", function () {
      return P.api("POST", base + "/complete", reportBody(form));
    }).then(function () {
      forgetDrafts(form);
      return P.refresh(room);
    }).catch(function (err) {
      P.formError(form, grouped(err)).scrollIntoView({ block: "center", behavior: "smooth" });
      if (err.status === 409) P.refresh(room);
    });
  }

  function addStep(form) {
    var rows = form.querySelector("[data-step-rows]");
    var n = rows.querySelectorAll("[data-step-row]").length;
    if (n >= 20) return;
    var row = rows.querySelector("[data-step-row]").cloneNode(true);
    row.querySelectorAll("[id]").forEach(function (f) { f.id = f.id.replace(/-\d+$/, "-" + n); });
    row.querySelectorAll("label[for]").forEach(function (l) { l.htmlFor = l.htmlFor.replace(/-\d+$/, "-" + n); });
    row.querySelector("label").textContent = "Step " + (n + 1);
    row.querySelectorAll("input").forEach(function (f) { f.value = ""; });
    row.querySelector("select").value = "soon";
    rows.appendChild(row);
    row.querySelector("input").focus();
  }

  /* Reading the room, tab visible, reads the other party's messages: the marker moves to
   * their newest one (the server keeps it from moving back). */
  var markedAt = null;
  function markRead() {
    var role = document.body.dataset.role;
    if (document.hidden || (role !== "customer" && role !== "mechanic")) return;
    var theirs = room.querySelectorAll("[data-messages] .msg.theirs[data-message]");
    if (!theirs.length) return;
    var last = theirs[theirs.length - 1].dataset.message;
    if (last === markedAt) return;
    markedAt = last;
    P.api("POST", base + "/read", { message_id: last }).catch(function () { markedAt = null; });
  }
  room.addEventListener("pitcrew:refreshed", markRead);
  document.addEventListener("visibilitychange", markRead);
  markRead();

  /* "Complete session" opens the report's panel; its close button (or Escape) shuts it. */
  function openPanel(id) {
    var panel = document.getElementById(id);
    if (!panel || panel.open) return;
    panel.showModal();
    var first = panel.querySelector("textarea, input, select");
    if (first) first.focus();
  }

  /* On a phone the car, the issue and the timeline cover the chat while shown. */
  function showDetails(open) {
    room.classList.toggle("details-open", open);
    document.querySelectorAll("[data-details-toggle]").forEach(function (b) {
      if (b.closest(".page-head")) b.setAttribute("aria-expanded", String(open));
    });
    var target = open ? room.querySelector("#room-details [data-details-toggle]")
                      : document.querySelector(".page-head [data-details-toggle]");
    if (target) target.focus();
  }
  document.addEventListener("click", function (ev) {
    if (ev.target.closest("[data-details-toggle]")) showDetails(!room.classList.contains("details-open"));
  });
  document.addEventListener("keydown", function (ev) {
    if (ev.key === "Escape" && room.classList.contains("details-open")) showDetails(false);
  });

  room.addEventListener("click", function (ev) {
    var opening = ev.target.closest("[data-open-panel]");
    if (opening) {
      openPanel(opening.dataset.openPanel);
      return;
    }
    var closing = ev.target.closest("[data-close-panel]");
    if (closing) {
      closing.closest("dialog").close();
      return;
    }
    var adding = ev.target.closest("[data-add-step]");
    if (adding) {
      addStep(adding.form);
      return;
    }
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
          forgetDrafts(form);
          toldAt = 0;  // the next words typed are news again
          field.value = "";
          grow(field);
          field.focus();
          return P.refresh(room);
        });
    } else if (kind === "complete") {
      complete(form, button);
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
    if (!box.matches) return;
    if (box.matches("[data-draft]")) saveDraft(box);
    grow(box);
  });

  function scrollChat() {
    var list = room.querySelector("[data-messages]");
    if (list) list.scrollTop = list.scrollHeight;
  }

  room.addEventListener("pitcrew:refreshed", function (ev) {
    restoreDrafts(room);
    if (ev.detail.changed.indexOf("chat") >= 0) scrollChat();
  });
  room.addEventListener("pitcrew:gone", function () {
    P.toast("This session is no longer yours", "Taking you back.");
    setTimeout(function () { window.location.assign("/"); }, 1500);
  });
  /* Typing: while the message box changes, the other party is told at most every 2 s; their
   * "Dana is typing…" shows until 4 s pass without a word from us, or our message arrives. */
  var me = document.body.dataset.user || "";
  var toldAt = 0;
  var retry = null;
  function tellTyping() {
    var box = room.querySelector(".composer textarea");
    if (!box || !box.value) return;
    var now = Date.now();
    if (now - toldAt < 2000) return;
    toldAt = now;
    P.api("POST", base + "/typing").catch(function (err) {
      if (err.status !== 429) return;  // only a courtesy; too soon after the last: once more
      clearTimeout(retry);
      retry = setTimeout(function () { toldAt = 0; tellTyping(); }, 1000);
    });
  }
  room.addEventListener("input", function (ev) {
    if (ev.target.matches && ev.target.matches(".composer textarea")) tellTyping();
  });
  var typingTimer = null;
  var typingName = "";
  function showTyping(name) {
    typingName = name;
    var note = room.querySelector("[data-typing]");
    if (note) note.textContent = name ? name + " is typing…" : "";
    clearTimeout(typingTimer);
    if (name) typingTimer = setTimeout(function () { showTyping(""); }, 4000);
  }
  room.addEventListener("pitcrew:refreshed", function () {
    var note = room.querySelector("[data-typing]");
    if (note) note.textContent = typingName ? typingName + " is typing…" : "";
  });
  document.addEventListener("pitcrew:event", function (ev) {
    var data = ev.detail.data || {};
    if (data.session_id !== id) return;
    if (ev.detail.kind === "typing" && data.user_id !== me) showTyping(data.name);
    else if (ev.detail.kind === "message.created" && (data.message || {}).sender_id !== me) showTyping("");
  });

  /* The timer: time since the session went live, against the plan's minutes. When they are
   * reached both parties read a gentle notice, once; nothing stops the session. */
  function clock(seconds) {
    var h = Math.floor(seconds / 3600), m = Math.floor((seconds % 3600) / 60), s = seconds % 60;
    var mm = h ? ("0" + m).slice(-2) : String(m);
    return (h ? h + ":" : "") + mm + ":" + ("0" + s).slice(-2);
  }
  function tickTimer() {
    var timer = room.querySelector("[data-timer]");
    if (!timer) return;
    var started = new Date(timer.dataset.started).getTime();
    var seconds = Math.max(0, Math.floor((Date.now() - started) / 1000));
    timer.querySelector("[data-timer-clock]").textContent = clock(seconds);
    var minutes = Number(timer.dataset.planMinutes);
    var over = minutes > 0 && seconds >= minutes * 60;
    timer.classList.toggle("over", over);
    var notice = room.querySelector("[data-plan-notice]");
    if (over && notice && notice.hidden) {
      notice.textContent = "The " + timer.dataset.planName + " plan's " + minutes +
        " minutes are up. There is no hard stop: take the time you need to finish.";
      notice.hidden = false;
    }
  }
  /* While waiting: the time left before the request expires, counted down. */
  function tickWaiting() {
    var until = room.querySelector("time[data-until]");
    if (!until) return;
    var left = Math.max(0, Math.floor((new Date(until.getAttribute("datetime")).getTime() - Date.now()) / 1000));
    until.textContent = left > 0 ? clock(left) : "any moment now";
  }
  setInterval(function () { tickTimer(); tickWaiting(); }, 1000);
  room.addEventListener("pitcrew:refreshed", tickWaiting);
  room.addEventListener("pitcrew:refreshed", tickTimer);

  restoreDrafts(room);
  tickTimer();
  tickWaiting();
  scrollChat();
})();
