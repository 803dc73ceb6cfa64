/* pitcrew: what every page shares.
 * - what the server wrote on <body>: the event kinds of the live stream (data-live-kinds) and
 *   the words for each session status (data-status-words), so no script keeps its own copy
 * - api(): JSON or FormData calls with the CSRF header; a lost sign-in goes to /login?next=…
 * - the live event stream (/api/events), re-broadcast as "pitcrew:event" DOM events
 * - small helpers the page scripts share: busy buttons, error boxes, a refused form
 * - the notifications bell, toasts, local times and ticking waiting times, sign-out
 */
(function () {
  "use strict";

  /* ---------- what the server wrote on the page ---------- */

  function pageData(name, empty) {
    var raw = document.body.getAttribute("data-" + name);
    if (!raw) return empty;
    try { return JSON.parse(raw); } catch (e) { return empty; }
  }

  var KINDS = pageData("live-kinds", []);
  var STATUS_WORDS = pageData("status-words", {});

  /* The words for a session status: "label" for a badge, "sentence" to follow "is". */
  function statusWords(status) {
    return STATUS_WORDS[status] || { label: status, sentence: status };
  }

  /* ---------- calling the API ---------- */

  /* The CSRF token the server set beside the sign-in cookie; read at each call, since
   * signing in again replaces it. */
  function csrfToken() {
    var found = document.cookie.match(/(?:^|; )pitcrew_csrf=([^;]*)/);
    return found ? decodeURIComponent(found[1]) : "";
  }

  function ApiError(status, code, message, details) {
    this.status = status;
    this.code = code;
    this.message = message;
    this.details = details || [];
  }

  function fallbackMessage(status) {
    if (status === 413) return "That is too large to send.";
    return "Something went wrong (" + status + "). Please try again.";
  }

  /* A JSON body is sent as JSON; a FormData body (a photo) as multipart, as the browser
   * builds it. Resolves to the answer's JSON (null for 204); rejects with an ApiError. */
  function api(method, url, body, headers) {
    var h = { "Accept": "application/json" };
    if (headers) for (var k in headers) h[k] = headers[k];
    var form = body instanceof FormData;
    if (body !== undefined && !form) h["Content-Type"] = "application/json";
    if (method !== "GET" && method !== "HEAD") h["X-CSRF-Token"] = csrfToken();
    return fetch(url, {
      method: method,
      headers: h,
      credentials: "same-origin",
      body: body === undefined || form ? body : JSON.stringify(body)
    }).catch(function () {
      throw new ApiError(0, "network", "Could not reach pitcrew. Check your connection and try again.");
    }).then(function (res) {
      if (res.status === 204) return null;
      return res.json().catch(function () { return null; }).then(function (data) {
        if (res.ok) return data;
        var e = (data && data.error) || {};
        var err = new ApiError(res.status, e.code || "http_" + res.status,
          e.message || fallbackMessage(res.status), e.details);
        if (res.status === 401 && signedIn()) toLogin();
        throw err;
      });
    });
  }

  function signedIn() { return !!document.body.dataset.user; }

  /* The sign-in ran out: sign in again, then come back here. */
  function toLogin() {
    window.location.assign("/login?next=" + encodeURIComponent(location.pathname + location.search));
  }

  /* ---------- small DOM helpers ---------- */

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    if (attrs) for (var k in attrs) {
      if (k === "text") node.textContent = attrs[k];
      else if (k === "className") node.className = attrs[k];
      else node.setAttribute(k, attrs[k]);
    }
    (children || []).forEach(function (c) { if (c) node.appendChild(c); });
    return node;
  }

  function showError(box, message) {
    if (!box) return;
    box.textContent = message || "";
    box.hidden = !message;
  }

  function busy(button, on, label) {
    if (!button) return;
    if (on) {
      button.dataset.label = button.textContent;
      button.textContent = label || "Working…";
      button.disabled = true;
      button.setAttribute("aria-busy", "true");
    } else {
      if (button.dataset.label) button.textContent = button.dataset.label;
      button.disabled = false;
      button.removeAttribute("aria-busy");
    }
  }

  /* The button says what is happening and takes no second click while call() runs. After a
   * failure it is ready again; after a success it stays as it is, because what follows (the
   * next page, or the redrawn part) replaces it: a caller whose button stays re-enables it. */
  function busyWhile(button, label, call) {
    busy(button, true, label);
    return call().catch(function (err) {
      busy(button, false);
      throw err;
    });
  }

  /* The API's per-field problems, beside their fields: each [data-error-for="<field>"] box
   * shows its field's problem (already in words for people) and its input is marked
   * invalid. Returns how many were shown; any shown earlier are cleared first. */
  function fieldErrors(form, details) {
    form.querySelectorAll("[data-error-for]").forEach(function (box) { showError(box, ""); });
    form.querySelectorAll("[aria-invalid]").forEach(function (f) { f.removeAttribute("aria-invalid"); });
    var shown = 0;
    (details || []).forEach(function (d) {
      var box = form.querySelector('[data-error-for="' + d.field + '"]');
      if (!box) return;
      showError(box, d.problem);
      var input = box.parentElement.querySelector("input, textarea");
      if (input) input.setAttribute("aria-invalid", "true");
      shown++;
    });
    return shown;
  }

  /* A form the API refused: each field's problem beside it, and above the form either a
   * pointer to them or, when no field is to blame, the answer's message. No error clears
   * both. Returns what to bring into view: the first marked field, or the message. */
  function formError(form, err) {
    var box = form.querySelector("[data-form-error]");
    var marked = fieldErrors(form, err ? err.details : []);
    showError(box, !err ? "" : marked ? "Please check the fields marked below." : err.message);
    return form.querySelector("[aria-invalid]") || box;
  }

  function toast(title, body, href) {
    var box = document.querySelector("[data-toasts]");
    if (!box) return;
    var item = el(href ? "a" : "div", { className: "toast" }, [
      el("strong", { text: title }),
      body ? el("span", { text: body }) : null
    ]);
    if (href) item.setAttribute("href", href);
    box.appendChild(item);
    setTimeout(function () { item.classList.add("leaving"); }, 5000);
    setTimeout(function () { item.remove(); }, 5400);
  }

  /* ---------- times ---------- */

  function sameDay(a, b) { return a.toDateString() === b.toDateString(); }

  /* data-local="" → date and time (year only when not this year); "time" → the time alone today. */
  function localize(root) {
    var now = new Date();
    (root || document).querySelectorAll("time[data-local]").forEach(function (t) {
      var d = new Date(t.getAttribute("datetime"));
      if (isNaN(d)) return;
      var clock = d.toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit" });
      if (t.dataset.local === "time" && sameDay(d, now)) {
        t.textContent = clock;
      } else {
        var date = { day: "numeric", month: "short" };
        if (d.getFullYear() !== now.getFullYear()) date.year = "numeric";
        t.textContent = d.toLocaleDateString(undefined, date) + ", " + clock;
      }
      t.title = d.toLocaleString(undefined, { dateStyle: "full", timeStyle: "short" });
    });
  }

  function waited(ms) {
    var s = Math.max(0, Math.floor(ms / 1000));
    if (s < 60) return s + " s";
    if (s < 3600) return Math.floor(s / 60) + " min " + (s % 60) + " s";
    return Math.floor(s / 3600) + " h " + Math.floor((s % 3600) / 60) + " min";
  }

  function ago(date) {
    var s = Math.floor((Date.now() - date.getTime()) / 1000);
    if (s < 45) return "just now";
    if (s < 3600) return Math.round(s / 60) + " min ago";
    if (s < 86400) return Math.round(s / 3600) + " h ago";
    return date.toLocaleDateString(undefined, { day: "numeric", month: "short" });
  }

  function tick() {
    var now = Date.now();
    document.querySelectorAll("time[data-since]").forEach(function (t) {
      var d = new Date(t.getAttribute("datetime"));
      if (!isNaN(d)) t.textContent = waited(now - d.getTime());
    });
    /* A countdown (a request's expiry): the time left, then "due now". */
    document.querySelectorAll("time[data-until]").forEach(function (t) {
      var d = new Date(t.getAttribute("datetime"));
      if (isNaN(d)) return;
      t.textContent = d.getTime() > now ? waited(d.getTime() - now) : "due now";
    });
  }

  /* ---------- the live stream ---------- */

  var source = null;
  var retryMs = 1000;
  // Resume from the newest event the server had when it rendered this page; afterwards from
  // the last one received, so neither a slow first connect nor a reconnect loses anything.
  var lastEventId = document.body.getAttribute("data-last-event") || "";
  var lost = false;
  var lostTimer = null;

  function broadcast(kind, data) {
    document.dispatchEvent(new CustomEvent("pitcrew:event", { detail: { kind: kind, data: data } }));
  }

  /* Whether the page is live, told in the banner under the header: "Reconnecting…" once the
   * stream has been down for LOST_AFTER_MS (a blip that heals sooner is not worth a word), and
   * then, when it is back and the page re-read what it shows, that it caught up. While it is
   * down, the buttons that need the server are paused, with the reason beside them. The
   * browser retries the stream every few seconds and each failed try fires "error" again:
   * only the first one of an outage starts the clock. */
  var LOST_AFTER_MS = 3000;
  var lostShown = false;
  var backTimer = null;
  var OFFLINE_WORDS = "Reconnecting… Buttons that need pitcrew are paused until the connection is back.";
  var BACK_WORDS = "Connected again: this page caught up with what happened meanwhile.";

  function banner(words, back) {
    var line = document.querySelector("[data-conn]");
    if (!line) return;
    clearTimeout(backTimer);
    line.textContent = words || "";
    line.hidden = !words;
    line.classList.toggle("conn-back", !!back);
  }

  function pauseActions(paused) {
    document.body.classList.toggle("offline", paused);
    var controls = document.querySelectorAll("main button, main input[role=switch], main textarea, main input[type=file]");
    Array.prototype.forEach.call(controls, function (c) {
      if (c.matches("[role=tab], [data-dialog-close]")) return;
      if (paused && !c.disabled) {
        c.disabled = true;
        c.setAttribute("data-offline", "");
        c.setAttribute("aria-describedby", "conn-banner");
        c.title = "Paused: reconnecting to pitcrew";
      } else if (!paused && c.hasAttribute("data-offline")) {
        c.disabled = false;
        c.removeAttribute("data-offline");
        c.removeAttribute("aria-describedby");
        c.removeAttribute("title");
      }
    });
  }

  function connectionShown(ok) {
    if (ok) {
      clearTimeout(lostTimer);
      lostTimer = null;
      if (lostShown) {
        lostShown = false;
        pauseActions(false);
        banner(BACK_WORDS, true);
        backTimer = setTimeout(function () { banner(""); }, 8000);
      }
      return;
    }
    if (lostTimer || lostShown) return;
    lostTimer = setTimeout(function () {
      lostTimer = null;
      lostShown = true;
      banner(OFFLINE_WORDS);
      pauseActions(true);
    }, LOST_AFTER_MS);
  }

  function connect() {
    if (!signedIn() || !window.EventSource) return;
    source = new EventSource(
      lastEventId ? "/api/events?last_event_id=" + encodeURIComponent(lastEventId) : "/api/events"
    );
    KINDS.forEach(function (kind) {
      source.addEventListener(kind, function (ev) {
        var data;
        if (ev.lastEventId) lastEventId = ev.lastEventId;
        try { data = JSON.parse(ev.data); } catch (e) { return; }
        broadcast(kind, data);
      });
    });
    source.addEventListener("reload", function () {
      // What we missed is no longer kept: show the current state and listen from there.
      source.close();
      window.location.reload();
    });
    source.addEventListener("open", function () {
      retryMs = 1000;
      connectionShown(true);
      if (lost) {
        lost = false;
        // Whatever happened while we were away: pages re-read what they show.
        document.dispatchEvent(new CustomEvent("pitcrew:resync"));
        refreshNotifications();
      }
    });
    source.addEventListener("error", function () {
      lost = true;
      connectionShown(false);
      if (source.readyState === EventSource.CLOSED) {
        // The browser gave up (server down, or an error status): try again, slower each time.
        source = null;
        setTimeout(connect, retryMs);
        retryMs = Math.min(retryMs * 2, 30000);
      }
    });
  }

  window.addEventListener("pagehide", function () { if (source) source.close(); });

  /* ---------- notifications ---------- */

  var bell, panel, list, badge;
  var CLOSING_KINDS = ["request.accepted", "request.expired", "request.cancelled"];

  /* The page title starts with "(n)", n the sum of what the page counts as needing the
   * person (unread messages, and on the dashboard the requests waiting). */
  var titleCounts = {};
  function titleCount(key, n) {
    titleCounts[key] = n;
    var sum = 0;
    for (var k in titleCounts) sum += titleCounts[k];
    var bare = document.title.replace(/^\(\d+\+?\) /, "");
    document.title = sum > 0 ? "(" + sum + ") " + bare : bare;
  }

  function setUnread(n, messages) {
    titleCount("messages", messages || 0);
    if (!badge) return;
    var all = n + (messages || 0);
    badge.textContent = all > 99 ? "99+" : String(all);
    badge.hidden = all === 0;
    var words = "Notifications, " + n + " unread";
    if (messages) words += ", " + messages + " unread in your chats";
    bell.setAttribute("aria-label", words);
  }

  /* Open sessions with unread messages, at the top of the panel. */
  function renderConversations(talks) {
    (talks || []).forEach(function (c) {
      var words = c.unread + " unread message" + (c.unread === 1 ? "" : "s");
      list.appendChild(el("li", { className: "notif-item unread notif-talk", "data-conversation": c.session_id }, [
        el("a", { href: "/sessions/" + c.session_id, className: "notif-title", text: c.name }),
        el("span", { className: "notif-body", text: words })
      ]));
    });
  }

  function notificationHref(n) {
    if (n.kind === "request.created") return "/mechanic/dashboard";
    return n.session_id ? "/sessions/" + n.session_id : null;
  }

  function renderNotifications(items, talks) {
    list.textContent = "";
    renderConversations(talks);
    if (!items.length && !(talks && talks.length)) {
      list.appendChild(el("li", { className: "notif-empty", text: "Nothing yet. You will be told here when something happens." }));
      return;
    }
    items.forEach(function (n) {
      var href = notificationHref(n);
      var when = new Date(n.created_at);
      var title = href ? el("a", { href: href, className: "notif-title", text: n.title })
                       : el("span", { className: "notif-title", text: n.title });
      var meta = el("div", { className: "notif-meta" }, [
        el("time", { className: "notif-time", datetime: n.created_at, text: ago(when) })
      ]);
      if (n.resolved_at) {
        meta.appendChild(el("span", { className: "notif-closed", "data-closed": "", text: "Closed: no longer open" }));
      } else if (!n.read_at) {
        meta.appendChild(el("button", {
          type: "button", className: "link-btn", "data-mark-read": n.id, text: "Mark as read"
        }));
      }
      var state = n.resolved_at ? " resolved" : n.read_at ? "" : " unread";
      list.appendChild(el("li", { className: "notif-item" + state, "data-notification": n.id }, [
        title,
        n.body ? el("span", { className: "notif-body", text: n.body }) : null,
        meta
      ]));
    });
  }

  function refreshNotifications() {
    if (!bell) return Promise.resolve();
    return api("GET", "/api/notifications").then(function (data) {
      setUnread(data.unread, data.messages_unread);
      if (!panel.hidden) renderNotifications(data.notifications, data.conversations);
      return data;
    }).catch(function () { /* the badge keeps its last count */ });
  }

  /* Several events in a burst cost one read. */
  var refreshTimer = null;
  function refreshSoon() {
    if (refreshTimer) return;
    refreshTimer = setTimeout(function () { refreshTimer = null; refreshNotifications(); }, 150);
  }

  function openPanel(open) {
    panel.hidden = !open;
    bell.setAttribute("aria-expanded", String(open));
    if (open) {
      api("GET", "/api/notifications").then(function (data) {
        setUnread(data.unread, data.messages_unread);
        renderNotifications(data.notifications, data.conversations);
      }).catch(function (err) {
        list.textContent = "";
        list.appendChild(el("li", { className: "notif-empty", text: err.message }));
      });
    }
  }

  function markRead(id) {
    return api("POST", "/api/notifications/" + encodeURIComponent(id) + "/read");
  }

  function setUpNotifications() {
    bell = document.querySelector("[data-bell]");
    if (!bell) return;
    panel = document.querySelector("[data-notif-panel]");
    list = document.querySelector("[data-notif-list]");
    badge = document.querySelector("[data-unread-badge]");
    bell.addEventListener("click", function (ev) {
      ev.stopPropagation();
      openPanel(panel.hidden);
    });
    panel.addEventListener("click", function (ev) {
      ev.stopPropagation();
      var btn = ev.target.closest("[data-mark-read]");
      if (btn) {
        busyWhile(btn, "…", function () { return markRead(btn.dataset.markRead); }).then(function () {
          var item = btn.closest(".notif-item");
          if (item) item.classList.remove("unread");
          btn.remove();
          return refreshNotifications();
        }).catch(function (err) { toast("Could not mark as read", err.message); });
        return;
      }
      var link = ev.target.closest("a.notif-title");
      var unread = link && link.closest(".notif-item.unread[data-notification]");
      if (unread) {
        // Opening a notification reads it: mark it first, then follow the link either way.
        ev.preventDefault();
        markRead(unread.dataset.notification).catch(function () { /* still go */ })
          .then(function () { window.location.assign(link.getAttribute("href")); });
        return;
      }
      var all = ev.target.closest("[data-read-all]");
      if (all) {
        var ids = Array.prototype.map.call(panel.querySelectorAll("[data-mark-read]"),
          function (b) { return b.dataset.markRead; });
        Promise.all(ids.map(markRead)).then(function () { openPanel(true); })
          .catch(function (err) { toast("Could not mark as read", err.message); });
      }
    });
    document.addEventListener("click", function () { if (!panel.hidden) openPanel(false); });
    document.addEventListener("keydown", function (ev) {
      if (ev.key === "Escape" && !panel.hidden) { openPanel(false); bell.focus(); }
    });
    document.addEventListener("pitcrew:event", function (ev) {
      // A message written or read in one of my sessions changes what is unread.
      if (ev.detail.kind === "message.created" || ev.detail.kind === "message.read") {
        refreshSoon();
        return;
      }
      // A request taken, expired or cancelled closes the offers of it in every mechanic's bell.
      if (CLOSING_KINDS.indexOf(ev.detail.kind) >= 0 && document.body.dataset.role === "mechanic") {
        refreshNotifications();
        return;
      }
      if (ev.detail.kind !== "notification.created") return;
      refreshNotifications();
      var d = ev.detail.data;
      if (d.title && !document.hidden) toast(d.title, d.body || "");
    });
  }

  /* ---------- sign out ---------- */

  function setUpSignOut() {
    document.querySelectorAll("[data-signout]").forEach(function (btn) {
      btn.addEventListener("click", function () {
        if (source) source.close();
        busyWhile(btn, "Signing out…", function () {
          return api("POST", "/api/auth/logout").catch(function () { /* signed out already */ });
        }).then(function () { window.location.assign("/login"); });
      });
    });
  }

  window.pitcrew = {
    api: api,
    ApiError: ApiError,
    csrfToken: csrfToken,
    toLogin: toLogin,
    statusWords: statusWords,
    el: el,
    busy: busy,
    busyWhile: busyWhile,
    showError: showError,
    formError: formError,
    toast: toast,
    localize: localize,
    tick: tick,
    titleCount: titleCount
  };

  document.addEventListener("DOMContentLoaded", function () {
    localize(document);
    tick();
    setInterval(tick, 1000);
    setUpNotifications();
    refreshNotifications();
    setUpSignOut();
    connect();
  });
})();
