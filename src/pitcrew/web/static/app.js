/* pitcrew: what every signed-in page shares.
 * - api(): JSON calls with the CSRF header (the value of the pitcrew_csrf cookie)
 * - the live event stream (/api/events), re-broadcast as "pitcrew:event" DOM events
 * - the notifications bell, toasts, local times and ticking waiting times, sign-out
 */
(function () {
  "use strict";

  var KINDS = [
    "request.created", "request.accepted", "request.cancelled", "request.expired",
    "request.released", "session.updated", "message.created", "notification.created",
    "call.signal"
  ];

  function cookie(name) {
    var parts = document.cookie ? document.cookie.split("; ") : [];
    for (var i = 0; i < parts.length; i++) {
      var eq = parts[i].indexOf("=");
      if (parts[i].slice(0, eq) === name) return decodeURIComponent(parts[i].slice(eq + 1));
    }
    return "";
  }

  function ApiError(status, code, message, details) {
    this.status = status;
    this.code = code;
    this.message = message;
    this.details = details || [];
  }

  function api(method, url, body, headers) {
    var h = { "Accept": "application/json" };
    if (headers) for (var k in headers) h[k] = headers[k];
    if (body !== undefined) h["Content-Type"] = "application/json";
    if (method !== "GET" && method !== "HEAD") h["X-CSRF-Token"] = cookie("pitcrew_csrf");
    return fetch(url, {
      method: method,
      headers: h,
      credentials: "same-origin",
      body: body === undefined ? undefined : JSON.stringify(body)
    }).catch(function () {
      throw new ApiError(0, "network", "Could not reach pitcrew. Check your connection and try again.");
    }).then(function (res) {
      if (res.status === 204) return null;
      return res.json().catch(function () { return null; }).then(function (data) {
        if (res.ok) return data;
        var e = (data && data.error) || {};
        var err = new ApiError(res.status, e.code || "http_" + res.status,
          e.message || "Something went wrong (" + res.status + "). Please try again.", e.details);
        if (res.status === 401 && signedIn()) toLogin();
        throw err;
      });
    });
  }

  function signedIn() { return !!document.body.dataset.user; }

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

  function connectionShown(ok) {
    var badge = document.querySelector("[data-conn]");
    clearTimeout(lostTimer);
    if (ok) { if (badge) badge.hidden = true; return; }
    // A blip that heals within a few seconds is not worth a word.
    lostTimer = setTimeout(function () { if (badge) badge.hidden = false; }, 4000);
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

  function setUnread(n) {
    if (!badge) return;
    badge.textContent = n > 99 ? "99+" : String(n);
    badge.hidden = n === 0;
    bell.setAttribute("aria-label", "Notifications, " + n + " unread");
  }

  function notificationHref(n) {
    if (n.kind === "request.created") return "/mechanic/dashboard";
    return n.session_id ? "/sessions/" + n.session_id : null;
  }

  function renderNotifications(items) {
    list.textContent = "";
    if (!items.length) {
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
      if (!n.read_at) {
        meta.appendChild(el("button", {
          type: "button", className: "link-btn", "data-mark-read": n.id, text: "Mark as read"
        }));
      }
      list.appendChild(el("li", { className: "notif-item" + (n.read_at ? "" : " unread"), "data-notification": n.id }, [
        title,
        n.body ? el("span", { className: "notif-body", text: n.body }) : null,
        meta
      ]));
    });
  }

  function refreshNotifications() {
    if (!bell) return Promise.resolve();
    return api("GET", "/api/notifications").then(function (data) {
      setUnread(data.unread);
      if (!panel.hidden) renderNotifications(data.notifications);
      return data;
    }).catch(function () { /* the badge keeps its last count */ });
  }

  function openPanel(open) {
    panel.hidden = !open;
    bell.setAttribute("aria-expanded", String(open));
    if (open) {
      api("GET", "/api/notifications").then(function (data) {
        setUnread(data.unread);
        renderNotifications(data.notifications);
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
        busy(btn, true, "…");
        markRead(btn.dataset.markRead).then(function () {
          var item = btn.closest(".notif-item");
          if (item) item.classList.remove("unread");
          btn.remove();
          return refreshNotifications();
        }).catch(function (err) { busy(btn, false); toast("Could not mark as read", err.message); });
        return;
      }
      var link = ev.target.closest("a.notif-title");
      var unread = link && link.closest(".notif-item.unread");
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
        busy(btn, true, "Signing out…");
        if (source) source.close();
        api("POST", "/api/auth/logout").catch(function () { /* signed out already */ })
          .then(function () { window.location.assign("/login"); });
      });
    });
  }

  window.pitcrew = {
    api: api,
    el: el,
    busy: busy,
    toast: toast,
    showError: showError,
    localize: localize,
    tick: tick,
    ApiError: ApiError
  };

  document.addEventListener("DOMContentLoaded", function () {
    localize(document);
    tick();
    setInterval(tick, 1000);
    setUpNotifications();
    setUpSignOut();
    connect();
  });
})();
