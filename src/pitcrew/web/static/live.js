/* Live regions: an element with data-live="<parts url>" re-reads that URL when the stream
 * reports an event about one of its data-live-subjects (the part of an event kind before the
 * dot: "request", "session", "message"; for data-live-session, only about that session) and
 * swaps in the server-rendered parts ([data-part]) that changed. The server renders every
 * update with the same templates as the first view; text being typed survives the swap.
 */
(function () {
  "use strict";

  var state = new WeakMap();

  function keepValues(part) {
    var kept = {};
    part.querySelectorAll("[data-keep]").forEach(function (f) {
      if (f.name) kept[f.name] = { value: f.value, focused: document.activeElement === f };
    });
    return kept;
  }

  function restoreValues(part, kept) {
    part.querySelectorAll("[data-keep]").forEach(function (f) {
      var k = kept[f.name];
      if (!k) return;
      f.value = k.value;
      if (k.focused) {
        f.focus();
        try { f.setSelectionRange(f.value.length, f.value.length); } catch (e) { /* not text */ }
      }
    });
  }

  function swap(root, html) {
    var doc = new DOMParser().parseFromString("<body>" + html + "</body>", "text/html");
    var changed = [];
    doc.body.querySelectorAll("[data-part]").forEach(function (fresh) {
      var name = fresh.getAttribute("data-part");
      var current = root.querySelector('[data-part="' + name + '"]');
      if (!current) return;
      var key = fresh.getAttribute("data-key");
      if (key !== null && key !== "" && key === current.getAttribute("data-key")) return;
      var kept = keepValues(current);
      var details = current.querySelector("details[open]");
      var node = document.importNode(fresh, true);
      current.replaceWith(node);
      restoreValues(node, kept);
      if (details) {
        var again = node.querySelector("details");
        if (again) again.open = true;
      }
      window.pitcrew.localize(node);
      changed.push(name);
    });
    window.pitcrew.tick();
    root.dispatchEvent(new CustomEvent("pitcrew:refreshed", { bubbles: true, detail: { changed: changed } }));
  }

  /* One read at a time per region; events arriving meanwhile cause exactly one more. */
  function refresh(root) {
    var s = state.get(root) || { running: false, again: false };
    state.set(root, s);
    if (s.running) { s.again = true; return s.promise; }
    s.running = true;
    s.promise = fetch(root.dataset.live, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (res) {
        if (res.status === 401) { window.pitcrew.toLogin(); return null; }
        if (res.status === 403 || res.status === 404) {
          root.dispatchEvent(new CustomEvent("pitcrew:gone", { bubbles: true, detail: { status: res.status } }));
          return null;
        }
        return res.ok ? res.text() : null;
      })
      .then(function (html) { if (html !== null) swap(root, html); })
      .catch(function () { /* the next event or reconnect tries again */ })
      .then(function () {
        s.running = false;
        if (s.again) { s.again = false; return refresh(root); }
      });
    return s.promise;
  }

  function matches(root, kind, data) {
    var subjects = (root.dataset.liveSubjects || "").split(/\s+/);
    if (subjects.indexOf(kind.split(".")[0]) < 0) return false;
    var only = root.dataset.liveSession;
    return !only || (data && data.session_id === only);
  }

  document.addEventListener("pitcrew:event", function (ev) {
    document.querySelectorAll("[data-live]").forEach(function (root) {
      if (matches(root, ev.detail.kind, ev.detail.data)) refresh(root);
    });
  });

  document.addEventListener("pitcrew:resync", function () {
    document.querySelectorAll("[data-live]").forEach(refresh);
  });

  window.pitcrew = window.pitcrew || {};
  window.pitcrew.refresh = function (root) {
    var target = root || document.querySelector("[data-live]");
    return target ? refresh(target) : Promise.resolve();
  };
})();
