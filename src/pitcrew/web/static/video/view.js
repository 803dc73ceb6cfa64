/* What the person sees of the call: one line of state, a note, the videos and the buttons.
 *
 * The panel's data-state is the call's state as tests and styles read it; every button
 * shows only when it can do something in that state.
 */

const IN_CALL = ["starting", "connecting", "awaiting", "connected", "unstable", "reconnecting"];

export class CallView {
  constructor(panel) {
    this.panel = panel;
    this.other = panel.dataset.otherName || "the other party";
    this.role = panel.dataset.role;
    this.remoteVideo = panel.querySelector("[data-remote-video]");
    this.localVideo = panel.querySelector("[data-local-video]");
    this.stateText = panel.querySelector("[data-call-state]");
    this.note = panel.querySelector("[data-call-note]");
    this.remoteCamera = panel.querySelector("[data-remote-camera-off]");
    this.remoteMute = panel.querySelector("[data-remote-muted]");
    this.check = panel.querySelector("[data-call-check]");
    this.devices = {};
    panel.querySelectorAll("[data-device]").forEach((s) => { this.devices[s.dataset.device] = s; });
    this.level = panel.querySelector("[data-mic-level]");
    this.buttons = {};
    panel.querySelectorAll("[data-call-action]").forEach((b) => { this.buttons[b.dataset.callAction] = b; });
    this.words = {
      waiting: "The call starts when the session is live.",
      ready: "Check your camera and microphone, then start the video.",
      preview: "Check your camera and microphone, then start the video.",
      starting: "Starting your camera…",
      connecting: "Connecting…",
      awaiting: `Waiting for ${this.other} to join the call…`,
      connected: "Connected",
      unstable: "Connection unstable, trying to recover…",
      reconnecting: "Reconnecting the call…",
      lost: "Connection lost.",
      ended: "Call ended.",
      ringing: `${this.other} wants to talk on video.`,
      over: "The session has ended, and so has the call.",
      moved: "Call moved to another tab."
    };
  }

  get state() {
    return this.panel.dataset.state;
  }

  /* Show a state; ``tracks`` says which of camera and microphone this side is sending. */
  show(state, detail, tracks) {
    this.panel.dataset.state = state;
    this.stateText.textContent = this.words[state] || state;
    this.setNote(detail || "");
    const inCall = IN_CALL.includes(state);
    const has = tracks || { video: false, audio: false };
    this.toggle("camera", inCall && has.video);
    this.toggle("mute", inCall && has.audio);
    this.toggle("hangup", inCall);
    this.toggle("snapshot", state === "connected" && this.role === "mechanic");
    this.toggle("preview", state === "ready");
    this.toggle("start", state === "preview");
    this.toggle("not-now", state === "preview");
    this.toggle("take", state === "moved");
    if (this.check) this.check.hidden = state !== "preview";
    this.panel.classList.toggle("call-preview", state === "preview");
    this.toggle("call", state === "ended" || state === "ringing");
    if (this.buttons.call) this.buttons.call.textContent = state === "ringing" ? "Join call" : "Call again";
    this.toggle("reconnect", state === "lost");
    if (state === "over") this.toggle("play", false);
    if (!inCall) this.showRemote({ video: true, audio: true });
    this.panel.classList.toggle("call-live", inCall);
  }

  setNote(text) {
    this.note.textContent = text;
    this.note.hidden = !text;
  }

  toggle(name, on) {
    if (this.buttons[name]) this.buttons[name].hidden = !on;
  }

  /* The label says what a click does: "Mute" while heard, "Unmute" while muted. */
  setPressed(name, off) {
    const b = this.buttons[name];
    if (!b) return;
    if (name === "camera") b.textContent = off ? "Turn camera on" : "Turn camera off";
    if (name === "mute") b.textContent = off ? "Unmute" : "Mute";
    if (name === "camera") this.localVideo.classList.toggle("off", off);
  }

  /* The other party's camera and microphone as they report them: a placeholder, a mark. */
  showRemote(sending) {
    if (this.remoteCamera) this.remoteCamera.hidden = sending.video !== false;
    if (this.remoteMute) this.remoteMute.hidden = sending.audio !== false;
    this.remoteVideo.classList.toggle("off", sending.video === false);
  }

  showFlip(cameras) {
    this.toggle("flip", cameras >= 2 && IN_CALL.includes(this.state));
  }

  /* The cameras and microphones to choose from, the ones in use selected. */
  showDevices(choices) {
    ["video", "audio"].forEach((kind) => {
      const select = this.devices[kind];
      if (!select) return;
      select.replaceChildren(...choices[kind].map((d) => new Option(d.label, d.id, false, d.id === choices.using[kind])));
      select.disabled = choices[kind].length < 2;
    });
  }

  showLevel(value) {
    if (this.level) this.level.value = value;
  }

  setRemote(stream) {
    if (this.remoteVideo.srcObject !== stream) this.remoteVideo.srcObject = stream;
    if (stream) this.play(this.remoteVideo);
  }

  setLocal(stream) {
    this.localVideo.srcObject = stream;
    if (stream) {
      this.localVideo.hidden = !stream.getVideoTracks().length;
      this.play(this.localVideo);
    }
  }

  play(video) {
    const started = video.play();
    if (started && started.catch) {
      started.then(() => this.toggle("play", false)).catch((err) => {
        if (err && err.name === "NotAllowedError") this.toggle("play", true);
      });
    }
  }
}
