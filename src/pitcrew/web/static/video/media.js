/* This side's camera and microphone.
 *
 * Asked for only when the person checks them before a call (or starts one), and let go when
 * the call ends, so the camera light is on exactly while they look at themselves or are in
 * a call. The camera and microphone they chose are used for the rest of the page's life.
 * Without a camera or a microphone (or with them blocked) the call still runs: they see and
 * hear the other party.
 */

const FALLBACKS = [{ video: { facingMode: "user" }, audio: true }, { video: true }, { audio: true }];

function wanted(kind, deviceId) {
  if (deviceId) return { deviceId: { exact: deviceId } };
  return kind === "video" ? { facingMode: "user" } : true;
}

export class LocalMedia {
  constructor() {
    this.stream = null;
    this.opening = null;
    this.problem = "";
    this.chosen = { video: "", audio: "" }; // device ids the person picked; "" for the default
  }

  tries() {
    if (!this.chosen.video && !this.chosen.audio) return FALLBACKS;
    const both = { video: wanted("video", this.chosen.video), audio: wanted("audio", this.chosen.audio) };
    return [both, ...FALLBACKS];
  }

  has(kind) {
    return !!(this.stream && this.stream.getTracks().some((t) => t.kind === kind));
  }

  tracks() {
    return { video: this.has("video"), audio: this.has("audio") };
  }

  /* Which of camera and microphone are on (not merely present) for the other party to show. */
  sending() {
    const on = (kind) => !!(this.stream && this.stream.getTracks().some((t) => t.kind === kind && t.enabled));
    return { video: on("video"), audio: on("audio") };
  }

  /* The stream, opening the devices once; null when there is none to be had. */
  open() {
    if (this.stream) return Promise.resolve(this.stream);
    if (this.opening) return this.opening;
    const devices = navigator.mediaDevices;
    if (!devices || !devices.getUserMedia) {
      this.problem = "This browser cannot share a camera";
      return Promise.resolve(null);
    }
    const tries = this.tries();
    const attempt = (i, lastError) => {
      if (i >= tries.length) {
        this.problem = `Your camera and microphone are not available (${(lastError && lastError.name) || "blocked"})`;
        return null;
      }
      return devices.getUserMedia(tries[i]).catch((err) => attempt(i + 1, err));
    };
    this.opening = Promise.resolve(attempt(0)).then((stream) => {
      this.opening = null;
      if (stream) {
        this.problem = "";
        this.stream = stream;
      }
      return stream;
    });
    return this.opening;
  }

  stop() {
    if (this.stream) this.stream.getTracks().forEach((t) => t.stop());
    this.stream = null;
  }

  /* Turn camera ("video") or microphone ("audio") on or off; returns whether it is now off. */
  flip(kind) {
    const tracks = this.stream ? this.stream.getTracks().filter((t) => t.kind === kind) : [];
    const off = tracks.length > 0 && tracks[0].enabled;
    tracks.forEach((t) => { t.enabled = !off; });
    return off;
  }

  /* The cameras and microphones there are, each {id, label}, and the one in use of each. */
  async choices() {
    const devices = navigator.mediaDevices;
    const all = devices && devices.enumerateDevices ? await devices.enumerateDevices().catch(() => []) : [];
    const list = (kind, word) => all.filter((d) => d.kind === kind)
      .map((d, i) => ({ id: d.deviceId, label: d.label || `${word} ${i + 1}` }));
    const using = (kind) => {
      const track = this.stream && this.stream.getTracks().find((t) => t.kind === kind);
      return (track && track.getSettings && track.getSettings().deviceId) || "";
    };
    return {
      video: list("videoinput", "Camera"), audio: list("audioinput", "Microphone"),
      using: { video: using("video"), audio: using("audio") }
    };
  }

  /* Use another camera ("video") or microphone ("audio") from now on; resolves to
   * [old track or null, new track] so the caller can swap what it sends. */
  async choose(kind, deviceId) {
    this.chosen[kind] = deviceId;
    if (this.opening) await this.opening; // opened with the earlier choice: change it below
    if (!this.stream) return null;
    const stream = await navigator.mediaDevices.getUserMedia({ [kind]: wanted(kind, deviceId) });
    const fresh = stream.getTracks().find((t) => t.kind === kind);
    const track = this.stream.getTracks().find((t) => t.kind === kind) || null;
    if (track) fresh.enabled = track.enabled;
    this.replace(track, fresh);
    return [track, fresh];
  }

  cameras() {
    const devices = navigator.mediaDevices;
    if (!this.has("video") || !devices || !devices.enumerateDevices) return Promise.resolve(0);
    return devices.enumerateDevices()
      .then((all) => all.filter((d) => d.kind === "videoinput").length)
      .catch(() => 0);
  }

  /* The other camera (back and front on a phone, the next one elsewhere); resolves to
   * [old track, new track, facing] so the caller can swap what it sends. */
  nextCamera() {
    const track = this.stream && this.stream.getVideoTracks()[0];
    if (!track) return Promise.resolve(null);
    const devices = navigator.mediaDevices;
    const settings = track.getSettings ? track.getSettings() : {};
    const facing = settings.facingMode === "environment" ? "user" : "environment";
    return devices.getUserMedia({ video: { facingMode: { exact: facing } } }).catch(() =>
      // No camera facing that way (a laptop): take the next camera in the list instead.
      devices.enumerateDevices().then((all) => {
        const cameras = all.filter((d) => d.kind === "videoinput");
        const at = cameras.findIndex((d) => d.deviceId === settings.deviceId);
        const next = cameras[(at + 1) % cameras.length];
        return devices.getUserMedia({ video: { deviceId: { exact: next.deviceId } } });
      })
    ).then((stream) => {
      const fresh = stream.getVideoTracks()[0];
      fresh.enabled = track.enabled;
      return [track, fresh, facing];
    });
  }

  replace(track, fresh) {
    if (track) {
      this.stream.removeTrack(track);
      track.stop();
    }
    this.stream.addTrack(fresh);
  }
}
