/* Photos in the session chat: pick one and it is sent at once; click a thumbnail for the
 * full image. The server checks and cleans every photo; this only sends it and shows it.
 * window.pitcrew.sendPhoto(blob, name, caption) is also how the video call sends a still.
 */
(function () {
  "use strict";
  var P = window.pitcrew;
  var room = document.querySelector("[data-session]");
  if (!P || !room) return;
  var base = "/api/sessions/" + encodeURIComponent(room.dataset.session);

  function sendPhoto(blob, name, caption) {
    var form = new FormData();
    form.append("photo", blob, name || "photo.jpg");
    if (caption) form.append("caption", caption);
    return P.api("POST", base + "/photos", form).then(function (message) {
      P.refresh(room);
      return message;
    });
  }

  function errorBox(node) {
    var part = node.closest("[data-part]");
    return part && part.querySelector("[data-photo-error]");
  }

  room.addEventListener("change", function (ev) {
    var input = ev.target;
    if (!input.matches || !input.matches("[data-photo-input]")) return;
    var file = input.files && input.files[0];
    if (!file) return;
    var box = errorBox(input);
    var label = input.closest("[data-photo-picker]");
    P.showError(box, "");
    if (label) label.classList.add("busy");
    sendPhoto(file, file.name, "").catch(function (err) {
      P.showError(box, err.message);
    }).then(function () {
      input.value = "";
      if (label) label.classList.remove("busy");
    });
  });

  /* ---------- the full image, over the page ---------- */

  var viewer = null;

  function openViewer(link) {
    if (!viewer) {
      viewer = P.el("dialog", { className: "photo-viewer", "aria-label": "Photo" }, [
        P.el("img", { alt: "" }),
        P.el("div", { className: "photo-viewer-bar" }, [
          P.el("a", { className: "btn btn-secondary btn-sm", target: "_blank", rel: "noopener", text: "Open in new tab", "data-photo-open": "" }),
          P.el("button", { type: "button", className: "btn btn-primary btn-sm", text: "Close", "data-photo-close": "" })
        ])
      ]);
      viewer.addEventListener("click", function (ev) {
        if (ev.target === viewer || ev.target.closest("[data-photo-close]")) viewer.close();
      });
      viewer.addEventListener("close", function () { viewer.querySelector("img").removeAttribute("src"); });
      document.body.appendChild(viewer);
    }
    var img = viewer.querySelector("img");
    img.src = link.getAttribute("href");
    img.alt = link.querySelector("img") ? link.querySelector("img").alt : "Photo";
    viewer.querySelector("[data-photo-open]").setAttribute("href", link.getAttribute("href"));
    if (viewer.showModal) viewer.showModal(); else window.open(link.href, "_blank", "noopener");
  }

  room.addEventListener("click", function (ev) {
    var link = ev.target.closest("[data-photo-link]");
    if (!link || ev.ctrlKey || ev.metaKey || ev.shiftKey || ev.button !== 0) return;
    ev.preventDefault();
    openViewer(link);
  });

  // A photo that arrives makes the chat taller once it has loaded: keep the newest in view.
  room.addEventListener("load", function (ev) {
    if (!ev.target.matches || !ev.target.matches("[data-messages] img")) return;
    var list = ev.target.closest("[data-messages]");
    if (list) list.scrollTop = list.scrollHeight;
  }, true);

  P.sendPhoto = sendPhoto;
})();
