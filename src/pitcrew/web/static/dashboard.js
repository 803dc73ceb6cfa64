/* The mechanic's dashboard: four tabs with live counts, Accept / Join / Hand back,
 * the on-duty switch, desktop alerts for new requests, and intake / summary dialogs.
 */
(function () {
  "use strict";
  var P = window.pitcrew;
  var board = document.querySelector(".tab-card[data-live]");
  if (!board) return;
  var tabs = Array.prototype.slice.call(document.querySelectorAll("[role=tab][data-tab]"));
  var notice = document.querySelector("[data-notice]");
  var TAB_KEYS = tabs.map(function (t) { return t.dataset.tab; });
  var current = TAB_KEYS.indexOf(location.hash.slice(1)) >= 0 ? location.hash.slice(1) : "incoming";

  /* ---------- tabs ---------- */

  function showTab(key, focus, remember) {
    current = key;
    tabs.forEach(function (t) {
      var on = t.dataset.tab === key;
      t.setAttribute("aria-selected", String(on));
      t.tabIndex = on ? 0 : -1;
      if (on && focus) t.focus();
    });
    board.querySelectorAll("[data-tab-panel]").forEach(function (panel) {
      panel.hidden = panel.dataset.tabPanel !== key;
    });
    if (remember && history.replaceState) history.replaceState(null, "", "#" + key);
  }

  function updateCounts() {
    board.querySelectorAll("[data-tab-panel]").forEach(function (panel) {
      var count = document.querySelector('[data-count="' + panel.dataset.tabPanel + '"]');
      var value = panel.dataset.countValue;
      if (count && count.textContent !== value) {
        count.textContent = value;
        count.classList.remove("bump");
        void count.offsetWidth; // restart the animation
        count.classList.add("bump");
      }
    });
    var incoming = board.querySelector('[data-tab-panel="incoming"]');
    P.titleCount("incoming", incoming ? parseInt(incoming.dataset.countValue, 10) || 0 : 0);
    updateUnread();
  }

  /* The unread marks of the tabs, from what the server counted in each panel's rows. */
  function updateUnread() {
    board.querySelectorAll("[data-tab-panel]").forEach(function (panel) {
      var mark = document.querySelector('[data-unread-tab="' + panel.dataset.tabPanel + '"]');
      if (!mark) return;
      var n = parseInt(panel.dataset.unreadValue, 10) || 0;
      mark.hidden = n === 0;
      mark.firstChild.nodeValue = String(n);
    });
  }

  tabs.forEach(function (t, i) {
    t.addEventListener("click", function () { showTab(t.dataset.tab, false, true); });
    t.addEventListener("keydown", function (ev) {
      var step = ev.key === "ArrowRight" ? 1 : ev.key === "ArrowLeft" ? -1 : 0;
      if (ev.key === "Home") { ev.preventDefault(); showTab(TAB_KEYS[0], true, true); }
      if (ev.key === "End") { ev.preventDefault(); showTab(TAB_KEYS[TAB_KEYS.length - 1], true, true); }
      if (step) { ev.preventDefault(); showTab(TAB_KEYS[(i + step + tabs.length) % tabs.length], true, true); }
    });
  });

  board.addEventListener("pitcrew:refreshed", function () {
    showTab(current);
    updateCounts();
  });

  /* ---------- notices ---------- */

  var noticeTimer = null;
  function say(message, tone) {
    notice.textContent = message;
    notice.className = "notice" + (tone ? " notice-" + tone : "");
    notice.hidden = false;
    clearTimeout(noticeTimer);
    noticeTimer = setTimeout(function () { notice.hidden = true; }, 12000);
  }

  function removeRow(selector) {
    var row = board.querySelector(selector);
    if (!row) return;
    var panel = row.closest("[data-tab-panel]");
    row.remove();
    if (panel) {
      var left = panel.querySelectorAll("tbody tr").length;
      panel.dataset.countValue = String(left);
      updateCounts();
    }
  }

  /* ---------- accept, join, hand back ---------- */

  board.addEventListener("click", function (ev) {
    var accept = ev.target.closest("[data-accept]");
    if (accept) return acceptRequest(accept);
    var join = ev.target.closest("[data-join]");
    if (join) return joinSession(join);
    var release = ev.target.closest("[data-release]");
    if (release) return handBack(release);
    var peek = ev.target.closest("[data-preview]");
    if (peek) return openPreview(peek.dataset.preview);
    var view = ev.target.closest("[data-dialog]");
    if (view) { ev.preventDefault(); return openDialog(view.dataset.dialog, view.dataset.sessionId); }
  });

  function acceptRequest(button) {
    var requestId = button.dataset.accept;
    var who = button.dataset.customer;
    P.busyWhile(button, "Accepting…", function () {
      return P.api("POST", "/api/mechanic/accept", { request_id: requestId });
    }).then(function () {
      if (dialog && dialog.open) dialog.close();
      removeRow('[data-request="' + requestId + '"]');
      say("You accepted " + who + "’s request. It is in Active Sessions.", "ok");
      return P.refresh(board);
    }).catch(function (err) {
      if (dialog && dialog.open) dialog.close();
      if (err.status === 409 || err.status === 404) {
        removeRow('[data-request="' + requestId + '"]');
        say(err.code === "request_taken" ? "Another mechanic accepted this request first." : err.message, "warn");
        return P.refresh(board);
      }
      say(err.message, "error");
    });
  }

  function joinSession(button) {
    var id = button.dataset.join;
    P.busyWhile(button, "Joining…", function () {
      return P.api("POST", "/api/sessions/" + encodeURIComponent(id) + "/join");
    }).then(function () {
      window.location.assign("/sessions/" + id);
    }).catch(function (err) {
      say(err.message, "error");
      P.refresh(board);
    });
  }

  function handBack(button) {
    var id = button.dataset.release;
    P.busyWhile(button, "Handing back…", function () {
      return P.api("POST", "/api/sessions/" + encodeURIComponent(id) + "/release");
    }).then(function () {
      say("Handed back: the request is open to every mechanic again.", "ok");
      return P.refresh(board);
    }).catch(function (err) {
      say(err.message, "error");
      P.refresh(board);
    });
  }

  /* ---------- on duty, email alerts ---------- */

  /* A switch sends what was chosen and then shows what the server says is so; a refusal
   * puts it back. `field` names the setting in both the request and the answer. */
  function onOffSwitch(input, url, field, words, then) {
    if (!input) return;
    input.addEventListener("change", function () {
      var wanted = input.checked;
      var body = {};
      body[field] = wanted;
      input.disabled = true;
      P.api("POST", url, body).then(function (answer) {
        input.checked = answer[field];
        say(answer[field] ? words.on : words.off, "ok");
      }).catch(function (err) {
        input.checked = !wanted;
        say(err.message, "error");
      }).then(function () {
        input.disabled = false;
        if (then) then(input.checked);
      });
    });
  }

  /* Off duty: said at the top of the page, and no alert or sound for new requests. */
  var dutySwitch = document.querySelector("[data-duty]");
  var offDuty = document.querySelector("[data-off-duty]");
  function onDuty() { return !dutySwitch || dutySwitch.checked; }
  function showDuty(on) { if (offDuty) offDuty.hidden = on; }

  onOffSwitch(dutySwitch, "/api/mechanic/duty", "on_duty", {
    on: "You are on duty: you will be told of every new request.",
    off: "You are off duty: no alerts for new requests."
  }, showDuty);
  onOffSwitch(document.querySelector("[data-email-alerts]"), "/api/me/email-notifications", "enabled", {
    on: "You will get an email for each new request while on duty.",
    off: "No more emails for new requests."
  });

  /* ---------- sound ---------- */

  /* A short two-note chime made on the spot with Web Audio: nothing to fetch, nothing shipped
   * but these lines. Browsers let a page make sound only after a click on it; turning the
   * switch on is one, and plays the chime once so the mechanic hears what it sounds like. */
  var soundSwitch = document.querySelector("[data-sound]");
  var audio = null;

  function chime() {
    var Context = window.AudioContext || window.webkitAudioContext;
    if (!Context) return;
    try {
      if (!audio) audio = new Context();
      if (audio.state === "suspended") audio.resume();
      var start = audio.currentTime + 0.01;
      [880, 1320].forEach(function (pitch, i) {
        var at = start + i * 0.14;
        var tone = audio.createOscillator();
        var level = audio.createGain();
        tone.type = "sine";
        tone.frequency.value = pitch;
        level.gain.setValueAtTime(0.0001, at);
        level.gain.exponentialRampToValueAtTime(0.2, at + 0.02);
        level.gain.exponentialRampToValueAtTime(0.0001, at + 0.25);
        tone.connect(level);
        level.connect(audio.destination);
        tone.start(at);
        tone.stop(at + 0.3);
      });
    } catch (e) { /* no sound device: the page still shows everything */ }
  }

  function soundOn() { return !!soundSwitch && soundSwitch.checked; }

  onOffSwitch(soundSwitch, "/api/me/sound", "enabled", {
    on: "Sound on: a short chime for new requests while on duty, and for new messages.",
    off: "Sound off."
  }, function (on) { if (on) chime(); });

  document.addEventListener("pitcrew:event", function (ev) {
    if (!soundOn()) return;
    var kind = ev.detail.kind, d = ev.detail.data || {};
    if (kind === "request.created" && onDuty()) chime();
    var sender = d.message && d.message.sender_id;
    if (kind === "message.created" && sender && sender !== document.body.dataset.user) chime();
  });

  /* ---------- desktop alerts ---------- */

  var alertsButton = document.querySelector("[data-enable-alerts]");
  var alertsState = document.querySelector("[data-alerts-state]");

  function showAlertsState() {
    if (!("Notification" in window)) return;
    var permission = Notification.permission;
    alertsButton.hidden = permission !== "default";
    alertsState.hidden = permission === "default";
    alertsState.textContent = permission === "granted" ? "Desktop alerts on"
      : "Desktop alerts are blocked in this browser’s settings";
  }

  if (alertsButton && "Notification" in window) {
    showAlertsState();
    alertsButton.addEventListener("click", function () {
      var asked = Notification.requestPermission(showAlertsState);
      if (asked && asked.then) asked.then(showAlertsState);
    });
  }

  document.addEventListener("pitcrew:event", function (ev) {
    if (ev.detail.kind !== "request.created" || !onDuty()) return;
    if (!document.hidden || !("Notification" in window) || Notification.permission !== "granted") return;
    var d = ev.detail.data;
    try {
      var shown = new Notification("New request from " + (d.customer_name || "a customer"), {
        body: (d.session_type || "") + " session · " + (d.plan_code || "") + " plan",
        tag: d.request_id
      });
      shown.onclick = function () { window.focus(); showTab("incoming"); shown.close(); };
    } catch (e) { /* some browsers only allow alerts from a service worker */ }
  });

  /* ---------- intake / summary dialogs ---------- */

  var dialog = document.querySelector("[data-dialog-box]");
  var dialogBody = dialog && dialog.querySelector("[data-dialog-body]");

  /* The foot of the dialog: a link to the session, or Accept for a request's preview. */
  function dialogFoot(href, accept) {
    var link = dialog.querySelector("[data-dialog-open]");
    var take = dialog.querySelector("[data-dialog-accept]");
    link.hidden = !href;
    if (href) link.setAttribute("href", href);
    take.hidden = !accept;
    if (accept) {
      take.dataset.accept = accept.request_id;
      take.dataset.customer = accept.customer_name;
      P.busy(take, false);
    }
  }

  function fact(term, value, mono) {
    if (value === null || value === undefined || value === "") return null;
    return P.el("div", null, [P.el("dt", { text: term }), P.el("dd", { text: String(value), className: mono ? "mono" : "" })]);
  }

  function vehicleWords(v) {
    return [v.year, v.make, v.model].filter(function (x) { return x; }).join(" ");
  }

  function addedWhileWaiting(details) {
    if (!details || !details.length) return null;
    var list = P.el("ol", { className: "preview-details" });
    details.forEach(function (m) {
      var item = P.el("li", { className: "preview-detail" });
      if (m.photo) {
        var img = P.el("img", { src: m.photo.thumbnail_url, alt: m.body ? "Photo: " + m.body : "Photo from the customer", width: "160", loading: "lazy" });
        item.appendChild(P.el("a", { href: m.photo.url, target: "_blank", rel: "noopener" }, [img]));
      }
      if (m.body) item.appendChild(P.el("p", { className: "prewrap", text: m.body }));
      list.appendChild(item);
    });
    return P.el("section", null, [P.el("h3", { className: "facts-sub", text: "Added while waiting" }), list]);
  }

  function renderPreview(r) {
    var v = r.vehicle || {};
    var car = vehicleWords(v);
    dialog.querySelector("[data-dialog-title]").textContent = car ? car + " · " + r.customer_name : r.customer_name;
    dialogBody.textContent = "";
    var facts = P.el("dl", { className: "facts" }, [
      fact("Vehicle", car || "Not given"),
      fact("Mileage", typeof v.mileage === "number" ? v.mileage.toLocaleString() + " miles" : ""),
      fact("VIN", v.vin, true),
      fact("Session", r.session_type.charAt(0).toUpperCase() + r.session_type.slice(1) + " · " + r.plan_code + " plan"),
      fact("Customer", r.customer_name)
    ]);
    dialogBody.appendChild(P.el("div", { "data-preview-body": r.request_id }, [
      facts,
      P.el("h3", { className: "facts-sub", text: "Issue" }),
      P.el("p", { className: "prewrap issue", text: r.issue || "" }),
      addedWhileWaiting(r.details)
    ]));
    dialogFoot(null, r.request_status === "pending" ? r : null);
  }

  function openPreview(requestId) {
    if (!dialog || !dialog.showModal) return;
    dialog.querySelector("[data-dialog-title]").textContent = "Request details";
    dialogFoot(null, null);
    dialogBody.textContent = "Loading…";
    dialog.showModal();
    P.api("GET", "/api/mechanic/requests/" + encodeURIComponent(requestId)).then(renderPreview).catch(function (err) {
      dialogBody.textContent = err.status === 404 ? "This request is no longer open: another mechanic took it, or it expired or was cancelled." : err.message;
      if (err.status === 404) { removeRow('[data-request="' + requestId + '"]'); P.refresh(board); }
    });
  }

  function openDialog(kind, sessionId) {
    var href = "/sessions/" + sessionId + (kind === "summary" ? "#summary" : "#intake");
    if (!dialog || !dialog.showModal) { window.location.assign(href); return; }
    dialog.querySelector("[data-dialog-title]").textContent = kind === "summary" ? "Session summary" : "Intake details";
    dialogFoot(href, null);
    dialogBody.textContent = "Loading…";
    dialog.showModal();
    fetch("/sessions/" + encodeURIComponent(sessionId) + "/parts", { credentials: "same-origin" })
      .then(function (res) {
        if (res.status === 401) P.toLogin();
        if (!res.ok) throw new Error(String(res.status));
        return res.text();
      })
      .then(function (html) {
        var doc = new DOMParser().parseFromString("<body>" + html + "</body>", "text/html");
        var picked = kind === "summary" ? doc.querySelector("[data-fragment=summary]") : doc.querySelector("[data-part=intake]");
        dialogBody.textContent = "";
        if (!picked) { dialogBody.textContent = "There is no summary for this session."; return; }
        picked.removeAttribute("id");
        picked.removeAttribute("data-part");
        picked.classList.remove("card");
        var node = document.importNode(picked, true);
        dialogBody.appendChild(node);
        P.localize(node);
      })
      .catch(function () { dialogBody.textContent = "Could not load this session. Try opening it instead."; });
  }

  if (dialog) {
    dialog.querySelector("[data-dialog-close]").addEventListener("click", function () { dialog.close(); });
    dialog.addEventListener("click", function (ev) { if (ev.target === dialog) dialog.close(); });
    dialog.querySelector("[data-dialog-accept]").addEventListener("click", function (ev) {
      acceptRequest(ev.currentTarget);
    });
  }

  showTab(current);
  updateCounts();
})();
