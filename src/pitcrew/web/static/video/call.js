/* The call of one video session, with all its state in one place.
 *
 * Nothing starts by itself: the camera and microphone turn on when the person checks them
 * ("Check camera and microphone", or "Join call" when the other party is already calling):
 * they see themselves, pick a camera and a microphone and see it hear them. Nothing reaches
 * the other party until they press "Start video". The mechanic's side makes every offer;
 * the customer's asks for one by sending "ready".
 * One call per party: the page that starts the call claims it, and the party's other pages
 * in the same session let go of it (camera and microphone off, "Call moved to another
 * tab") until the person takes it back there with "Use this tab".
 * A call that has no media flowing within NO_MEDIA_MS, or stops having it, mends itself:
 * the mechanic's side first restarts the network path on the same connection (an ICE
 * restart), then makes a fresh offer on a new one, and only then says the call is lost.
 * The customer's side, which cannot offer, asks for the same two steps with "ready". Either
 * way the person reads "Reconnecting the call…" meanwhile. This also covers a message lost
 * on the way: an offer, answer or candidates that never arrive end up as a call without
 * media, and the next step sends fresh ones.
 *
 * The call ends for both when either hangs up, and for good when the session is completed
 * or cancelled.
 */

import { MicLevel } from "./level.js";
import { LocalMedia } from "./media.js";
import { Peer } from "./peer.js";
import { Signals, newCallId } from "./signals.js";
import { CallView } from "./view.js";

export const NO_MEDIA_MS = 10000;
const CHECK_MS = 2000;
// The customer's side waits a little longer than the mechanic's before it asks for a
// restart, so that normally the side that can act alone does so first.
const CUSTOMER_SLACK_MS = 2000;
const ASK_AGAIN_MAX_MS = 60000; // the longest pause between two "ready"s with no answer
// The session only moves forward (as far as a call cares): a slow read that answers
// "waiting" after the stream said "live" must not take it back.
const RANK = { pending: 0, waiting: 0, live: 1, completed: 2, cancelled: 2 };
const JOURNAL_LINES = 80;
// Longer than any negotiation step takes, shorter than a person's patience. A camera
// permission prompt can take longer: the message is then still handled, just not waited for.
const INBOX_PATIENCE_MS = 20000;

export class Call {
  constructor(panel, P) {
    this.P = P;
    this.view = new CallView(panel);
    this.other = this.view.other;
    this.base = `/api/sessions/${encodeURIComponent(panel.dataset.sessionId)}`;
    this.sessionId = panel.dataset.sessionId;
    this.role = panel.dataset.role;
    this.status = panel.dataset.sessionStatus;
    this.setup = null; // GET /call: role, ICE servers
    this.loaded = null; // the first read of it
    this.media = new LocalMedia();
    this.level = new MicLevel((value) => this.view.showLevel(value));
    this.checked = false; // the person has checked camera and microphone on this page
    this.ringing = false; // the other party is calling and this side has not joined
    this.signals = new Signals(this.base, P.api, () => this.refreshStatus());
    this.peer = null;
    this.wanted = false; // this person wants to be in a call now
    this.over = false; // the session ended: no more calls
    this.inbox = Promise.resolve();
    this.recovery = 0; // restart steps taken since media last flowed
    this.flowedAt = 0; // when media last flowed, or the current attempt began
    this.asks = 0; // "ready"s sent without an offer coming back
    this.checking = false;
    this.timer = null;
    this.journal = [];
    this.began = Date.now();
  }

  /* ---------- what happened, for whoever has to find out why a call did not connect ---------- */

  note(text) {
    const line = `${((Date.now() - this.began) / 1000).toFixed(1)}s ${this.role}: ${text}`;
    this.journal.push(line);
    if (this.journal.length > JOURNAL_LINES) this.journal.shift();
  }

  show(state, detail) {
    if (this.view.state !== state) this.note(`shows ${state}`);
    this.view.show(state, detail, this.media.tracks());
    this.media.cameras().then((n) => this.view.showFlip(n));
  }

  /* ---------- the session's own state ---------- */

  begin() {
    const status = this.status;
    if (status === "completed" || status === "cancelled") {
      this.over = true;
      this.show("over");
    } else {
      this.show(status === "live" ? "ready" : "waiting");
    }
    this.loaded = this.refreshStatus();
  }

  refreshStatus() {
    return this.P.api("GET", `${this.base}/call`).then((answer) => {
      this.setup = answer;
      this.role = answer.role;
      this.statusChanged(answer.session_status);
    }).catch(() => { /* the next event tries again */ });
  }

  statusChanged(next) {
    const before = this.status;
    if ((RANK[next] || 0) < (RANK[before] || 0)) return;
    this.status = next;
    if (next === "completed" || next === "cancelled") {
      if (!this.over) {
        this.over = true;
        this.stop();
        this.show("over");
      }
    } else if (next === "live" && this.view.state === "waiting") {
      this.show("ready"); // the camera starts when the person says so, not before
    }
  }

  /* ---------- starting and stopping ---------- */

  /* Camera and microphone, once the ICE servers are known. */
  async prepared() {
    await (this.loaded || Promise.resolve());
    const stream = await this.media.open();
    if (!this.wanted || this.over) {
      this.media.stop();
      this.view.setLocal(null);
      return false;
    }
    if (stream && this.view.localVideo.srcObject !== stream) {
      this.view.setLocal(stream);
      this.view.setPressed("camera", false);
      this.view.setPressed("mute", false);
    }
    return true;
  }

  /* The check before a call: nothing is sent to the other party yet. */
  async preview() {
    if (this.over || this.status !== "live" || this.wanted) return;
    this.show("preview");
    await (this.loaded || Promise.resolve());
    const stream = await this.media.open();
    if (this.view.state !== "preview") { // the person moved on meanwhile
      if (!this.wanted) this.media.stop();
      return;
    }
    this.view.setLocal(stream);
    if (this.media.problem) this.view.setNote(`${this.media.problem}; you can still see and hear ${this.other}.`);
    else if (this.ringing) this.view.setNote(`${this.other} is waiting for you in the call.`);
    this.level.listen(stream);
    this.view.showDevices(await this.media.choices());
  }

  notNow() {
    this.level.stop();
    this.media.stop();
    this.view.setLocal(null);
    this.show(this.ringing ? "ringing" : "ready");
  }

  /* "Join call" and "Use this tab": straight in once camera and microphone were checked. */
  join() {
    return this.checked ? this.start() : this.preview();
  }

  async chooseDevice(kind, deviceId) {
    try {
      const swap = await this.media.choose(kind, deviceId);
      if (!swap) return;
      if (this.peer && swap[0]) await this.peer.replaceTrack(swap[0], swap[1]);
      this.view.setLocal(this.media.stream);
      if (kind === "audio") this.level.listen(this.media.stream);
      this.view.showDevices(await this.media.choices());
    } catch (err) {
      this.P.toast("Could not use that device", err && err.message ? err.message : "");
    }
  }

  async start() {
    if (this.over || this.status !== "live") return;
    this.checked = true;
    this.ringing = false;
    this.level.stop();
    this.signals.send("claim", newCallId(), {}); // before anything else this page sends
    this.wanted = true;
    this.recovery = 0;
    this.asks = 0;
    this.flowedAt = Date.now();
    this.show("starting");
    this.watch();
    if (!(await this.prepared())) return;
    if (this.media.problem) {
      this.view.setNote(`${this.media.problem}; you can still see and hear ${this.other}.`);
    }
    if (this.role === "mechanic") {
      this.signals.to = null; // whichever page of the customer's answers
      await this.offer(false);
    } else if (!this.peer) { // else an offer came meanwhile and is being answered
      this.show("awaiting");
      this.askForOffer(null);
    }
  }

  stop() {
    this.wanted = false;
    this.level.stop();
    this.closePeer();
    this.media.stop();
    this.view.setLocal(null);
    clearInterval(this.timer);
    this.timer = null;
  }

  hangUp() {
    if (this.peer) this.signals.send("hangup", this.peer.callId, { reason: "hangup" });
    this.stop();
    this.show("ended", "You hung up.");
  }

  /* Another page of this party took the call: this one lets go of it and of the devices. */
  moveAway() {
    const had = this.wanted || this.view.state === "preview";
    this.stop();
    this.ringing = false;
    this.show("moved", had ? "Your camera and microphone are off in this tab." : "");
  }

  lose() {
    this.closePeer();
    this.recovery = 0; // whatever starts the call again starts counting anew
    this.show("lost", `The connection to ${this.other} dropped. Check your network, then reconnect.`);
  }

  /* ---------- the connection ---------- */

  newPeer(callId) {
    this.closePeer();
    const peer = new Peer(callId, {
      iceServers: this.setup && this.setup.ice_servers,
      stream: this.media.stream,
      note: (text) => this.note(`${callId.slice(0, 6)} ${text}`),
      onCandidate: (candidate) => this.signals.candidate(callId, candidate),
      onTrack: (ev) => this.trackArrived(ev),
      onState: (state) => this.connectionChanged(peer, state),
      onRemoteSending: (sending) => this.view.showRemote(sending)
    });
    peer.tell(this.media.sending());
    this.peer = peer;
    this.view.panel.dataset.connection = "new";
    this.note(`new connection ${callId.slice(0, 6)}`);
    return peer;
  }

  closePeer() {
    if (!this.peer) return;
    this.signals.forget(this.peer.callId);
    this.peer.close();
    this.peer = null;
    this.view.panel.dataset.connection = "closed";
    this.view.setRemote(null);
  }

  trackArrived(ev) {
    let stream = ev.streams && ev.streams[0];
    if (!stream) {
      const shown = this.view.remoteVideo.srcObject;
      stream = shown instanceof MediaStream ? shown : new MediaStream();
      stream.addTrack(ev.track);
    }
    this.view.setRemote(stream);
  }

  connectionChanged(peer, state) {
    if (peer !== this.peer) return;
    this.note(`${peer.callId.slice(0, 6)} connection ${state}`);
    this.view.panel.dataset.connection = state;
    if (state === "connected") {
      this.show("connected");
    } else if (state === "disconnected" && this.view.state === "connected") {
      this.show("unstable");
    } else if (state === "failed" && this.role === "mechanic" && this.wanted) {
      this.recover("the connection failed"); // no use waiting for what cannot come back
    }
  }

  /* The mechanic's offer: a fresh connection, or a new network path on the current one. */
  async offer(iceRestart) {
    if (!(await this.prepared())) return;
    const restart = iceRestart && this.peer;
    const peer = restart ? this.peer : this.newPeer(newCallId());
    if (!restart && this.view.state !== "reconnecting") this.show("connecting");
    let made;
    try {
      made = await peer.offer(restart);
    } catch (err) {
      this.note(`offer failed: ${err && err.name}`);
      return;
    }
    if (!made || this.peer !== peer) return;
    this.note(`sends offer ${peer.callId.slice(0, 6)}#${made.n}${restart ? " (ICE restart)" : ""}`);
    this.signals.send("offer", peer.callId, { type: "offer", sdp: made.sdp, n: made.n });
    this.flowedAt = Date.now();
    if (this.view.state === "connecting") this.show("awaiting");
  }

  /* The customer's answer to an offer: on the connection of that call, or a new one. */
  async answer(msg, data) {
    if (!(await this.prepared())) return;
    const fresh = !this.peer || this.peer.callId !== msg.call_id;
    const peer = fresh ? this.newPeer(msg.call_id) : this.peer;
    if (fresh && this.view.state !== "reconnecting") this.show("connecting");
    let made;
    try {
      made = await peer.answer(data.n || 1, data.sdp);
    } catch (err) {
      this.note(`answer failed: ${err && err.name}`);
      return;
    }
    if (!made || this.peer !== peer) return;
    this.note(`sends answer ${peer.callId.slice(0, 6)}#${made.n}`);
    this.signals.send("answer", peer.callId, { type: "answer", sdp: made.sdp, n: made.n });
    this.asks = 0;
    this.flowedAt = Date.now();
  }

  /* The customer's "ready": the first, again when no offer comes, or asking for a restart. */
  askForOffer(restartOf) {
    this.note(restartOf ? `asks for an ICE restart of ${restartOf.slice(0, 6)}` : "sends ready");
    if (!restartOf) this.signals.to = null; // whichever page of the mechanic's answers
    this.signals.send("ready", newCallId(), restartOf ? { restart: "ice", call: restartOf } : {});
    this.flowedAt = Date.now();
  }

  /* ---------- messages from the other party ---------- */

  receive(msg) {
    if (this.over) return null;
    const data = msg.data || {};
    const id = String(msg.call_id || "").slice(0, 6);
    this.note(`got ${msg.signal} ${id}${data.n ? `#${data.n}` : ""}`);
    const mine = this.peer && this.peer.callId === msg.call_id;
    if (msg.signal === "claim") {
      if (msg.tab !== this.signals.tab && this.view.state !== "waiting") this.moveAway();
      return null;
    }
    if (this.view.state === "moved") return null;
    if (msg.to && msg.to !== this.signals.tab) return null; // for another page of this party
    if (msg.tab && (msg.signal === "ready" || msg.signal === "offer" || (msg.signal === "answer" && mine))) {
      this.signals.to = msg.tab;
    }
    switch (msg.signal) {
      case "ready":
        if (this.role !== "mechanic") return null;
        if (!this.wanted) { this.rang(); return null; }
        this.flowedAt = Date.now();
        if (data.restart === "ice" && this.peer && this.peer.callId === data.call) return this.offer(true);
        return this.offer(false);
      case "offer":
        if (this.role !== "customer") return null;
        if (!this.wanted) { this.closePeer(); this.rang(); return null; }
        return this.answer(msg, data);
      case "answer":
        if (this.role !== "mechanic" || !mine) return null; // about an earlier attempt
        return this.peer.accept(data.n || 1, data.sdp);
      case "ice":
        return mine ? this.peer.candidates(data.candidates || []) : null;
      case "hangup":
        if (!mine) {
          if (!this.wanted) this.ringing = false; // they stopped calling
          if (this.view.state === "ringing") this.show("ready");
          return null;
        }
        this.signals.to = null;
        if (data.reason === "left") {
          this.closePeer();
          this.flowedAt = Date.now();
          this.show("awaiting", `${this.other} left the call; it resumes when they come back.`);
        } else {
          this.stop();
          this.show("ended", `${this.other} hung up.`);
        }
        return null;
      default:
        return null;
    }
  }

  /* The other party calls: shown as ringing, or as a note over the check before the call. */
  rang() {
    this.ringing = true;
    if (this.view.state === "preview") this.view.setNote(`${this.other} is waiting for you in the call.`);
    else this.show("ringing");
  }

  /* Messages are handled one after another, in the order they were recorded; one whose
   * handling is still not done after INBOX_PATIENCE_MS no longer holds up the rest. */
  deliver(msg) {
    const late = (resolve) => setTimeout(() => resolve("late"), INBOX_PATIENCE_MS);
    this.inbox = this.inbox
      .then(() => Promise.race([this.receive(msg), new Promise(late)]))
      .then((outcome) => { if (outcome === "late") this.note(`${msg.signal} still being handled; going on`); })
      .catch((err) => { this.note(`${msg.signal} failed: ${err && (err.name || err.message)}`); });
  }

  /* ---------- keeping the call alive ---------- */

  watch() {
    if (!this.timer) this.timer = setInterval(() => this.check(), CHECK_MS);
  }

  async check() {
    if (this.checking || !this.wanted || this.over || this.view.state === "lost") return;
    this.checking = true;
    try {
      const peer = this.peer;
      const flowing = peer ? await peer.flowing() : false;
      if (this.peer !== peer || !this.wanted || this.over) return; // things moved on meanwhile
      if (flowing) {
        this.flowedAt = Date.now();
        if (this.recovery || this.asks) this.note("media flows");
        this.recovery = 0;
        this.asks = 0;
        if (this.view.state !== "connected" && this.view.state !== "ended") this.show("connected");
        return;
      }
      if (Date.now() - this.flowedAt >= this.patience()) this.recover("no media");
    } finally {
      this.checking = false;
    }
  }

  patience() {
    if (this.role === "mechanic") return NO_MEDIA_MS;
    if (this.peer) return NO_MEDIA_MS + CUSTOMER_SLACK_MS;
    return Math.min(NO_MEDIA_MS * 2 ** this.asks, ASK_AGAIN_MAX_MS);
  }

  /* One step further: ICE restart, then a fresh offer, then "lost" (with a Reconnect button). */
  recover(why) {
    this.flowedAt = Date.now();
    if (this.role === "customer" && !this.peer) {
      // Still no offer: the mechanic is not there, or our "ready" went missing. Ask again.
      this.asks += 1;
      this.askForOffer(null);
      return;
    }
    if (this.role === "mechanic" && (!this.peer || (!this.peer.heard && !this.recovery))) {
      return; // nobody has answered yet: the customer is not there, which is no fault
    }
    this.recovery += 1;
    this.note(`${why}: recovery step ${this.recovery}`);
    if (this.recovery > 2) {
      this.lose();
      return;
    }
    this.show("reconnecting");
    const iceRestart = this.recovery === 1;
    if (this.role === "mechanic") this.offer(iceRestart);
    else this.askForOffer(iceRestart ? this.peer.callId : null);
  }

  /* ---------- the person's own controls ---------- */

  toggleDevice(action) {
    const off = this.media.flip(action === "camera" ? "video" : "audio");
    this.view.setPressed(action, off);
    if (this.peer) this.peer.tell(this.media.sending());
  }

  switchCamera() {
    return this.media.nextCamera().then((swap) => {
      if (!swap) return null;
      const [track, fresh, facing] = swap;
      return (this.peer ? this.peer.replaceTrack(track, fresh) : Promise.resolve()).then(() => {
        this.media.replace(track, fresh);
        this.view.setLocal(this.media.stream);
        this.view.localVideo.classList.toggle("mirrored", facing !== "environment");
      });
    }).catch((err) => {
      this.P.toast("Could not switch camera", err && err.message ? err.message : "");
    });
  }

  /* Leaving the page tells the other side at once, rather than after the network times out. */
  leave() {
    if (!this.peer || this.over) return;
    this.signals.sendNow("hangup", this.peer.callId, { reason: "left" });
    this.stop();
  }
}
