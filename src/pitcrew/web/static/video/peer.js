/* One connection attempt to the other party: an RTCPeerConnection and its call id.
 *
 * The mechanic's side makes every offer, so two offers never cross. Offers are numbered
 * within a call (a restart of the network path is a new offer on the same connection), and
 * an answer counts only for the offer it answers: a late answer to an older offer, or one
 * about another call, is dropped instead of being applied to the wrong thing. Candidates
 * that arrive before the description they belong to wait for it. Every step of the
 * negotiation runs after the previous one has finished.
 *
 * Closing the connection settles every step still running (as "nothing"): the browser
 * itself never settles a createOffer, setLocalDescription or getStats that a close()
 * interrupted, and whoever waited for one would wait forever. That was how a call used to
 * stall: a second offer replaced the first while it was being made, and the messages that
 * followed (the answer among them) queued behind the first one for good.
 */

export class Peer {
  constructor(callId, { iceServers, stream, onCandidate, onTrack, onState, onRemoteSending, note }) {
    this.callId = callId;
    this.offered = 0; // the number of this side's latest offer
    this.answered = 0; // the number of the latest offer this side answered
    this.heard = false; // the other side has answered at least once
    this.closed = false;
    this.waiting = []; // the other side's candidates, until its description is set
    this.steps = Promise.resolve();
    this.seen = { rtp: -1, transport: -1 };
    this.sending = null; // this side's camera and microphone, as last told
    this.note = note;
    this.ended = new Promise((resolve) => { this.end = () => resolve(null); });
    const pc = new RTCPeerConnection({ iceServers: iceServers || [] });
    this.pc = pc;
    // Both sides open the same channel by number, so it needs no negotiation of its own.
    this.channel = pc.createDataChannel("state", { negotiated: true, id: 0 });
    this.channel.onmessage = (ev) => {
      try { onRemoteSending(JSON.parse(ev.data)); } catch (e) { /* not ours */ }
    };
    this.channel.onopen = () => this.tell(this.sending);
    const tracks = stream ? stream.getTracks() : [];
    tracks.forEach((t) => pc.addTrack(t, stream));
    ["audio", "video"].forEach((kind) => {
      if (!tracks.some((t) => t.kind === kind)) pc.addTransceiver(kind, { direction: "recvonly" });
    });
    pc.onicecandidate = (ev) => {
      if (!this.closed && ev.candidate) onCandidate(ev.candidate);
    };
    pc.ontrack = (ev) => {
      if (!this.closed) onTrack(ev);
    };
    pc.onconnectionstatechange = () => {
      if (!this.closed) onState(pc.connectionState);
    };
    pc.oniceconnectionstatechange = () => this.note(`ice ${pc.iceConnectionState}`);
    pc.onsignalingstatechange = () => this.note(`signaling ${pc.signalingState}`);
  }

  get state() {
    return this.closed ? "closed" : this.pc.connectionState;
  }

  /* What the browser promises, or null once this connection is closed. */
  unlessClosed(promise) {
    return Promise.race([promise, this.ended]);
  }

  /* Run one negotiation step after the ones before it. */
  step(work) {
    const next = this.steps.then(() => (this.closed ? null : this.unlessClosed(work())));
    this.steps = next.catch(() => null);
    return next;
  }

  /* A new offer; with ``iceRestart`` the network path is found anew on the same connection. */
  offer(iceRestart) {
    return this.step(async () => {
      const offer = await this.pc.createOffer({ iceRestart: !!iceRestart });
      await this.pc.setLocalDescription(offer);
      this.offered += 1;
      return { n: this.offered, sdp: this.pc.localDescription.sdp };
    });
  }

  /* The answer to offer number ``n``, or null when that offer is older than one answered. */
  answer(n, sdp) {
    return this.step(async () => {
      if (n <= this.answered) {
        this.note(`offer ${n} dropped: ${this.answered} already answered`);
        return null;
      }
      await this.pc.setRemoteDescription({ type: "offer", sdp });
      await this.addWaiting();
      await this.pc.setLocalDescription(await this.pc.createAnswer());
      this.answered = n;
      return { n, sdp: this.pc.localDescription.sdp };
    });
  }

  /* Apply the answer to this side's latest offer; false when it answers something else. */
  accept(n, sdp) {
    return this.step(async () => {
      if (n !== this.offered || this.pc.signalingState !== "have-local-offer") {
        this.note(`answer ${n} dropped: offer ${this.offered} is ${this.pc.signalingState}`);
        return false;
      }
      await this.pc.setRemoteDescription({ type: "answer", sdp });
      this.heard = true;
      await this.addWaiting();
      return true;
    });
  }

  candidates(list) {
    list.forEach((c) => this.waiting.push(c));
    return this.step(() => (this.pc.remoteDescription ? this.addWaiting() : null));
  }

  addWaiting() {
    const list = this.waiting;
    this.waiting = [];
    return Promise.all(list.map((c) =>
      this.pc.addIceCandidate(c).catch(() => { /* from an earlier round of the same call */ })
    ));
  }

  /* Whether packets came in since the last look: media, or (when the other side sends no
   * media at all) anything on the connection. */
  async flowing() {
    if (this.closed || this.pc.connectionState !== "connected") return false;
    let rtp = 0;
    let transport = 0;
    const stats = await this.unlessClosed(this.pc.getStats());
    if (!stats) return false;
    stats.forEach((r) => {
      if (r.type === "inbound-rtp") rtp += r.bytesReceived || 0;
      if (r.type === "transport") transport += r.bytesReceived || 0;
    });
    const before = this.seen;
    this.seen = { rtp, transport };
    return rtp > 0 ? rtp > before.rtp : transport > before.transport;
  }

  /* Tell the other side whether this side's camera and microphone are on. */
  tell(sending) {
    this.sending = sending;
    if (sending && this.channel.readyState === "open") this.channel.send(JSON.stringify(sending));
  }

  replaceTrack(track, fresh) {
    const senders = this.pc.getSenders().filter((s) => s.track === track);
    return this.unlessClosed(Promise.all(senders.map((s) => s.replaceTrack(fresh))));
  }

  close() {
    if (this.closed) return;
    this.closed = true;
    const pc = this.pc;
    pc.onicecandidate = pc.ontrack = pc.onconnectionstatechange = null;
    pc.oniceconnectionstatechange = pc.onsignalingstatechange = null;
    try { pc.close(); } catch (e) { /* already closed */ }
    this.end();
  }
}
