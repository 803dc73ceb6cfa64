/* The call's messages to the other party, through pitcrew.
 *
 * POST /api/sessions/{id}/signal records each message; the other party receives it as a
 * "call.signal" event on its live stream. Messages go one after another, so they are
 * recorded, and received, in the order they were sent. ICE candidates are gathered for a
 * moment and sent together, each batch under the call id they belong to.
 *
 * Each message carries this page's own id (``tab``) and, once known, the id of the other
 * party's page that is in the call (``to``): the other party's other pages leave it alone.
 */

const BATCH_MS = 80;

export function newCallId() {
  const bytes = new Uint8Array(12);
  window.crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

export class Signals {
  constructor(base, api, onRefused) {
    this.url = `${base}/signal`;
    this.api = api;
    this.tab = newCallId(); // this page, for as long as it is open
    this.to = null; // the other party's page in the call, once it has said something
    this.onRefused = onRefused; // the session moved on: no call any more
    this.outbox = Promise.resolve();
    this.batch = [];
    this.batchId = null;
    this.timer = null;
  }

  body(kind, callId, data) {
    const body = { kind, call_id: callId || newCallId(), data: data || {}, tab: this.tab };
    if (this.to && kind !== "claim") body.to = this.to;
    return body;
  }

  send(kind, callId, data) {
    const body = this.body(kind, callId, data);
    this.outbox = this.outbox.then(() => this.api("POST", this.url, body)).catch((err) => {
      if (err.status === 409) this.onRefused();
    });
    return this.outbox;
  }

  candidate(callId, candidate) {
    if (this.batchId !== callId) this.flush();
    this.batchId = callId;
    this.batch.push(candidate.toJSON ? candidate.toJSON() : candidate);
    if (!this.timer) this.timer = setTimeout(() => this.flush(), BATCH_MS);
  }

  flush() {
    clearTimeout(this.timer);
    this.timer = null;
    if (this.batch.length && this.batchId) this.send("ice", this.batchId, { candidates: this.batch });
    this.batch = [];
  }

  /* One last message as the page goes away: sent even if the page is gone before it is. */
  sendNow(kind, callId, data) {
    const csrf = (document.cookie.match(/(?:^|; )pitcrew_csrf=([^;]*)/) || [])[1] || "";
    try {
      fetch(this.url, {
        method: "POST",
        keepalive: true,
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRF-Token": decodeURIComponent(csrf) },
        body: JSON.stringify(this.body(kind, callId, data))
      });
    } catch (e) { /* the page is going anyway */ }
  }

  /* Candidates of a connection that is being closed are of no use to anyone. */
  forget(callId) {
    if (this.batchId !== callId) return;
    clearTimeout(this.timer);
    this.timer = null;
    this.batch = [];
  }
}
