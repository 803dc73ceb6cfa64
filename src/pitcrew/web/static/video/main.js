/* The video call of a video session: browser to browser (WebRTC), once the session is live.
 *
 * This module finds the call's panel and connects it to the page: the live stream's
 * "call.signal" and "session.updated" events, the buttons, and leaving the page. What the
 * call does lives in call.js; how it is negotiated in peer.js; its messages in signals.js;
 * the camera in media.js; the microphone's level in level.js; what the person sees in view.js.
 */

import { Call } from "./call.js";

const P = window.pitcrew;
const panel = document.querySelector("[data-call]");

/* A still of the other party's video, into the chat. */
function snapshot(video, button) {
  if (!video.videoWidth) return;
  const canvas = document.createElement("canvas");
  canvas.width = video.videoWidth;
  canvas.height = video.videoHeight;
  canvas.getContext("2d").drawImage(video, 0, 0, canvas.width, canvas.height);
  P.busy(button, true, "Sending…");
  canvas.toBlob((blob) => {
    if (!blob || !P.sendPhoto) { P.busy(button, false); return; }
    P.sendPhoto(blob, "video-still.jpg", "Still from the video call")
      .catch((err) => P.toast("Could not send the still", err.message))
      .then(() => P.busy(button, false));
  }, "image/jpeg", 0.92);
}

function wire(call) {
  document.addEventListener("pitcrew:event", (ev) => {
    const d = ev.detail.data || {};
    if (d.session_id !== call.sessionId) return;
    if (ev.detail.kind === "call.signal") call.deliver(d);
    else if (ev.detail.kind === "session.updated" && d.session_status) call.statusChanged(d.session_status);
  });
  document.addEventListener("pitcrew:resync", () => call.refreshStatus());
  window.addEventListener("pagehide", () => call.leave());

  panel.addEventListener("click", (ev) => {
    const button = ev.target.closest("[data-call-action]");
    if (!button) return;
    const action = button.dataset.callAction;
    const view = call.view;
    if (action === "hangup") call.hangUp();
    else if (action === "preview") call.preview();
    else if (action === "start" || action === "reconnect") call.start();
    else if (action === "call" || action === "take") call.join();
    else if (action === "not-now") call.notNow();
    else if (action === "camera" || action === "mute") call.toggleDevice(action);
    else if (action === "flip") call.switchCamera();
    else if (action === "snapshot") snapshot(view.remoteVideo, button);
    else if (action === "play") { view.play(view.remoteVideo); view.play(view.localVideo); }
  });

  panel.addEventListener("change", (ev) => {
    const select = ev.target.closest("[data-device]");
    if (select) call.chooseDevice(select.dataset.device, select.value);
  });

  P.call = {
    state: () => panel.dataset.state,
    connection: () => (call.peer ? call.peer.state : "closed"),
    journal: () => call.journal.slice(),
    devicesOpen: () => !!call.media.stream,
    tab: () => call.signals.tab
  };
}

if (P && panel) {
  const call = new Call(panel, P);
  wire(call);
  call.begin();
}
