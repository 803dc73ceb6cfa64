/* The video call of a video session: browser to browser (WebRTC), once the session is live.
 *
 * Signalling goes through pitcrew: POST /api/sessions/{id}/signal, and the other party
 * receives it as a "call.signal" event on its live stream. The mechanic's browser makes
 * every offer; the customer's asks for one by sending "ready". Each attempt has its own
 * call id, so a late message about an earlier attempt is ignored. Messages are sent one
 * after another and handled one after another, in the order they were recorded.
 *
 * The call ends for both when either hangs up, and for good when the session is completed
 * or cancelled. A dropped connection says so and offers "Reconnect".
 */
(function () {
  "use strict";
  var P = window.pitcrew;
  var panel = document.querySelector("[data-call]");
  if (!P || !panel) return;

  var sessionId = panel.dataset.sessionId;
  var base = "/api/sessions/" + encodeURIComponent(sessionId);
  var other = panel.dataset.otherName || "the other party";
  var remoteVideo = panel.querySelector("[data-remote-video]");
  var localVideo = panel.querySelector("[data-local-video]");
  var stateText = panel.querySelector("[data-call-state]");
  var note = panel.querySelector("[data-call-note]");
  var buttons = {};
  panel.querySelectorAll("[data-call-action]").forEach(function (b) { buttons[b.dataset.callAction] = b; });

  var LOST_AFTER_MS = 5000; // "disconnected" this long counts as lost
  var setup = null; // GET /call: role, ICE servers
  var role = panel.dataset.role;
  var status = panel.dataset.sessionStatus;
  var pc = null;
  var callId = null;
  var local = null; // MediaStream from the camera and microphone
  var mediaPromise = null;
  var wanted = false; // this person wants to be in a call now
  var over = false; // the session ended: no more calls
  var outbox = Promise.resolve();
  var inbox = Promise.resolve();
  var pendingIce = [];
  var outgoingIce = [];
  var iceTimer = null;
  var lostTimer = null;
  var loaded = null; // the first read of the call's setup
  // The session only moves forward (as far as a call cares): a slow read that answers
  // "waiting" after the stream said "live" must not take it back.
  var RANK = { pending: 0, waiting: 0, live: 1, completed: 2, cancelled: 2 };

  /* ---------- what the person sees ---------- */

  var WORDS = {
    waiting: "The call starts when the session is live.",
    starting: "Starting your camera…",
    connecting: "Connecting…",
    awaiting: "Waiting for " + other + " to join the call…",
    connected: "Connected",
    unstable: "Connection unstable, trying to recover…",
    lost: "Connection lost.",
    ended: "Call ended.",
    ringing: other + " wants to talk on video.",
    over: "The session has ended, and so has the call."
  };

  function show(state, detail) {
    panel.dataset.state = state;
    stateText.textContent = WORDS[state] || state;
    note.textContent = detail || "";
    note.hidden = !detail;
    var inCall = ["starting", "connecting", "awaiting", "connected", "unstable"].indexOf(state) >= 0;
    toggle("camera", inCall && hasTrack("video"));
    toggle("mute", inCall && hasTrack("audio"));
    toggle("hangup", inCall);
    toggle("snapshot", state === "connected" && role === "mechanic");
    toggle("call", state === "ended" || state === "ringing");
    if (buttons.call) buttons.call.textContent = state === "ringing" ? "Join call" : "Call again";
    toggle("reconnect", state === "lost");
    if (state === "over") toggle("play", false);
    panel.classList.toggle("call-live", inCall);
    updateFlip();
  }

  function toggle(name, on) {
    if (buttons[name]) buttons[name].hidden = !on;
  }

  function hasTrack(kind) {
    return !!(local && local.getTracks().some(function (t) { return t.kind === kind; }));
  }

  function updateFlip() {
    var button = buttons.flip;
    if (!button) return;
    if (!hasTrack("video") || !navigator.mediaDevices || !navigator.mediaDevices.enumerateDevices) {
      button.hidden = true;
      return;
    }
    navigator.mediaDevices.enumerateDevices().then(function (devices) {
      var cameras = devices.filter(function (d) { return d.kind === "videoinput"; });
      button.hidden = cameras.length < 2 || !hasTrack("video") || panel.dataset.state === "over";
    }).catch(function () { button.hidden = true; });
  }

  /* ---------- signalling ---------- */

  function newCallId() {
    var bytes = new Uint8Array(12);
    (window.crypto || window.msCrypto).getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
  }

  function send(kind, data, id) {
    var body = { kind: kind, call_id: id || callId || newCallId(), data: data || {} };
    outbox = outbox.then(function () {
      return P.api("POST", base + "/signal", body);
    }).catch(function (err) {
      if (err.status === 409) refreshStatus(); // the session moved on; its event tells the rest
    });
    return outbox;
  }

  function queueIce(candidate) {
    outgoingIce.push(candidate.toJSON ? candidate.toJSON() : candidate);
    if (!iceTimer) iceTimer = setTimeout(flushIce, 80);
  }

  function flushIce() {
    clearTimeout(iceTimer);
    iceTimer = null;
    if (!outgoingIce.length || !callId) return;
    var batch = outgoingIce;
    outgoingIce = [];
    send("ice", { candidates: batch });
  }

  document.addEventListener("pitcrew:event", function (ev) {
    var d = ev.detail.data || {};
    if (d.session_id !== sessionId) return;
    if (ev.detail.kind === "call.signal") {
      inbox = inbox.then(function () { return receive(d); }).catch(function (err) {
        if (window.console) console.warn("call signal failed", err);
      });
    } else if (ev.detail.kind === "session.updated" && d.session_status) {
      statusChanged(d.session_status);
    }
  });

  function receive(msg) {
    if (over) return null;
    var kind = msg.signal;
    var data = msg.data || {};
    if (kind === "ready") {
      if (role !== "mechanic") return null;
      if (!wanted) { show("ringing"); return null; }
      return placeCall();
    }
    if (kind === "offer") {
      if (role !== "customer") return null;
      if (!wanted) { closePeer(); show("ringing"); return null; }
      return answerCall(msg.call_id, data);
    }
    if (msg.call_id !== callId || !pc) return null; // about an earlier attempt
    if (kind === "answer") {
      return pc.setRemoteDescription({ type: "answer", sdp: data.sdp }).then(addPendingIce);
    }
    if (kind === "ice") {
      (data.candidates || []).forEach(function (c) { pendingIce.push(c); });
      return pc.remoteDescription ? addPendingIce() : null;
    }
    if (kind === "hangup") {
      if (data.reason === "left") {
        closePeer();
        show("awaiting", other + " left the call; it resumes when they come back.");
      } else {
        stop();
        show("ended", other + " hung up.");
      }
    }
    return null;
  }

  function addPendingIce() {
    var list = pendingIce;
    pendingIce = [];
    return Promise.all(list.map(function (c) {
      return pc.addIceCandidate(c).catch(function () { /* a stale or foreign candidate */ });
    }));
  }

  /* ---------- the peer connection ---------- */

  function makePeer(id) {
    closePeer();
    callId = id;
    pendingIce = [];
    outgoingIce = [];
    var peer = new RTCPeerConnection({ iceServers: (setup && setup.ice_servers) || [] });
    pc = peer;
    panel.dataset.connection = "new";
    if (local && local.getTracks().length) {
      local.getTracks().forEach(function (t) { peer.addTrack(t, local); });
    }
    ["audio", "video"].forEach(function (kind) {
      if (!hasTrack(kind)) peer.addTransceiver(kind, { direction: "recvonly" });
    });
    peer.onicecandidate = function (ev) {
      if (pc !== peer) return;
      if (ev.candidate) queueIce(ev.candidate); else flushIce();
    };
    peer.ontrack = function (ev) {
      if (pc !== peer) return;
      var stream = ev.streams && ev.streams[0];
      if (!stream) {
        stream = remoteVideo.srcObject instanceof MediaStream ? remoteVideo.srcObject : new MediaStream();
        stream.addTrack(ev.track);
      }
      if (remoteVideo.srcObject !== stream) remoteVideo.srcObject = stream;
      play(remoteVideo);
    };
    peer.onconnectionstatechange = function () {
      if (pc !== peer) return;
      var state = peer.connectionState;
      panel.dataset.connection = state;
      clearTimeout(lostTimer);
      if (state === "connected") {
        show("connected");
      } else if (state === "disconnected") {
        show("unstable");
        lostTimer = setTimeout(function () {
          if (pc === peer && peer.connectionState !== "connected") lose();
        }, LOST_AFTER_MS);
      } else if (state === "failed") {
        lose();
      }
    };
    return peer;
  }

  function lose() {
    closePeer();
    show("lost", "The connection to " + other + " dropped. Check your network, then reconnect.");
  }

  function closePeer() {
    clearTimeout(lostTimer);
    clearTimeout(iceTimer);
    iceTimer = null;
    if (pc) {
      var peer = pc;
      pc = null;
      peer.onicecandidate = peer.ontrack = peer.onconnectionstatechange = null;
      try { peer.close(); } catch (e) { /* already closed */ }
    }
    callId = null;
    panel.dataset.connection = "closed";
    remoteVideo.srcObject = null;
  }

  /* Camera and microphone, once the ICE servers are known. */
  function prepared() {
    return (loaded || Promise.resolve()).then(media);
  }

  function placeCall() {
    return prepared().then(function () {
      if (!wanted || over) return null;
      var peer = makePeer(newCallId());
      var id = callId;
      show("connecting");
      return peer.createOffer().then(function (offer) {
        return peer.setLocalDescription(offer);
      }).then(function () {
        if (pc !== peer) return null;
        var sent = send("offer", { type: "offer", sdp: peer.localDescription.sdp }, id);
        show("awaiting");
        return sent;
      });
    });
  }

  function answerCall(id, data) {
    return prepared().then(function () {
      if (!wanted || over) return null;
      var peer = makePeer(id);
      show("connecting");
      return peer.setRemoteDescription({ type: "offer", sdp: data.sdp }).then(function () {
        return addPendingIce();
      }).then(function () {
        return peer.createAnswer();
      }).then(function (answer) {
        return peer.setLocalDescription(answer);
      }).then(function () {
        if (pc !== peer) return null;
        return send("answer", { type: "answer", sdp: peer.localDescription.sdp }, id);
      });
    });
  }

  /* ---------- camera and microphone ---------- */

  function media() {
    if (local) return Promise.resolve(local);
    if (mediaPromise) return mediaPromise;
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      mediaPromise = Promise.resolve(null).then(function () {
        note.hidden = false;
        note.textContent = "This browser cannot share a camera; you can still see and hear " + other + ".";
        return null;
      });
      return mediaPromise;
    }
    var tries = [{ video: { facingMode: "user" }, audio: true }, { video: true }, { audio: true }];
    function attempt(i, lastError) {
      if (i >= tries.length) {
        note.hidden = false;
        note.textContent = "Your camera and microphone are not available (" +
          ((lastError && lastError.name) || "blocked") + "); you can still see and hear " + other + ".";
        return null;
      }
      return navigator.mediaDevices.getUserMedia(tries[i]).catch(function (err) { return attempt(i + 1, err); });
    }
    mediaPromise = Promise.resolve(attempt(0)).then(function (stream) {
      mediaPromise = null;
      if (!stream) return null;
      if (!wanted || over) {
        stream.getTracks().forEach(function (t) { t.stop(); });
        return null;
      }
      local = stream;
      localVideo.srcObject = stream;
      localVideo.hidden = !hasTrack("video");
      play(localVideo);
      setPressed("camera", false);
      setPressed("mute", false);
      return stream;
    });
    return mediaPromise;
  }

  function stopMedia() {
    if (local) local.getTracks().forEach(function (t) { t.stop(); });
    local = null;
    localVideo.srcObject = null;
  }

  function play(video) {
    var started = video.play();
    if (started && started.catch) {
      started.then(function () { toggle("play", false); }).catch(function (err) {
        if (err && err.name === "NotAllowedError") toggle("play", true);
      });
    }
  }

  /* The label says what a click does: "Mute" while heard, "Unmute" while muted. */
  function setPressed(name, off) {
    var b = buttons[name];
    if (!b) return;
    if (name === "camera") b.textContent = off ? "Turn camera on" : "Turn camera off";
    if (name === "mute") b.textContent = off ? "Unmute" : "Mute";
  }

  function switchCamera() {
    var track = local && local.getVideoTracks()[0];
    if (!track) return Promise.resolve();
    var settings = track.getSettings ? track.getSettings() : {};
    var facing = settings.facingMode === "environment" ? "user" : "environment";
    return navigator.mediaDevices.getUserMedia({ video: { facingMode: { exact: facing } } }).catch(function () {
      // No camera facing that way (a laptop): take the next camera in the list instead.
      return navigator.mediaDevices.enumerateDevices().then(function (devices) {
        var cameras = devices.filter(function (d) { return d.kind === "videoinput"; });
        var at = cameras.findIndex(function (d) { return d.deviceId === settings.deviceId; });
        var next = cameras[(at + 1) % cameras.length];
        return navigator.mediaDevices.getUserMedia({ video: { deviceId: { exact: next.deviceId } } });
      });
    }).then(function (stream) {
      var fresh = stream.getVideoTracks()[0];
      fresh.enabled = track.enabled;
      var senders = pc ? pc.getSenders().filter(function (s) { return s.track === track; }) : [];
      return Promise.all(senders.map(function (s) { return s.replaceTrack(fresh); })).then(function () {
        local.removeTrack(track);
        track.stop();
        local.addTrack(fresh);
        localVideo.srcObject = local;
        localVideo.classList.toggle("mirrored", facing !== "environment");
      });
    }).catch(function (err) {
      P.toast("Could not switch camera", err && err.message ? err.message : "");
    });
  }

  /* ---------- a still from the video, into the chat ---------- */

  function snapshot(button) {
    if (!remoteVideo.videoWidth) return;
    var canvas = document.createElement("canvas");
    canvas.width = remoteVideo.videoWidth;
    canvas.height = remoteVideo.videoHeight;
    canvas.getContext("2d").drawImage(remoteVideo, 0, 0, canvas.width, canvas.height);
    P.busy(button, true, "Sending…");
    canvas.toBlob(function (blob) {
      if (!blob || !P.sendPhoto) { P.busy(button, false); return; }
      P.sendPhoto(blob, "video-still.jpg", "Still from the video call").catch(function (err) {
        P.toast("Could not send the still", err.message);
      }).then(function () { P.busy(button, false); });
    }, "image/jpeg", 0.92);
  }

  /* ---------- starting, stopping, and the session's own state ---------- */

  function start() {
    if (over || status !== "live") return;
    wanted = true;
    show("starting");
    prepared().then(function () {
      if (!wanted || over) return null;
      if (role === "mechanic") return placeCall();
      if (pc) return null; // an offer came meanwhile and is being answered
      show("awaiting");
      return send("ready", {}, newCallId());
    });
  }

  function stop() {
    wanted = false;
    closePeer();
    stopMedia();
  }

  function hangUp() {
    if (callId) send("hangup", { reason: "hangup" }, callId);
    stop();
    show("ended", "You hung up.");
  }

  function statusChanged(next) {
    var before = status;
    if ((RANK[next] || 0) < (RANK[before] || 0)) return;
    status = next;
    if (next === "completed" || next === "cancelled") {
      if (!over) {
        over = true;
        stop();
        show("over");
      }
    } else if (next === "live" && before !== "live") {
      start();
    }
  }

  function refreshStatus() {
    return P.api("GET", base + "/call").then(function (answer) {
      setup = answer;
      role = answer.role;
      statusChanged(answer.session_status);
    }).catch(function () { /* the next event tries again */ });
  }

  panel.addEventListener("click", function (ev) {
    var button = ev.target.closest("[data-call-action]");
    if (!button) return;
    var action = button.dataset.callAction;
    if (action === "hangup") hangUp();
    else if (action === "call" || action === "reconnect") start();
    else if (action === "camera" || action === "mute") {
      var kind = action === "camera" ? "video" : "audio";
      var tracks = local ? local.getTracks().filter(function (t) { return t.kind === kind; }) : [];
      var off = tracks.length && tracks[0].enabled;
      tracks.forEach(function (t) { t.enabled = !off; });
      setPressed(action, !!off);
      if (action === "camera") localVideo.classList.toggle("off", !!off);
    } else if (action === "flip") switchCamera();
    else if (action === "snapshot") snapshot(button);
    else if (action === "play") { play(remoteVideo); play(localVideo); }
  });

  document.addEventListener("pitcrew:resync", refreshStatus);

  // Leaving the page tells the other side at once, rather than after the network times out.
  window.addEventListener("pagehide", function () {
    if (!callId || over) return;
    var csrf = (document.cookie.match(/(?:^|; )pitcrew_csrf=([^;]*)/) || [])[1] || "";
    try {
      fetch(base + "/signal", {
        method: "POST",
        keepalive: true,
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRF-Token": decodeURIComponent(csrf) },
        body: JSON.stringify({ kind: "hangup", call_id: callId, data: { reason: "left" } })
      });
    } catch (e) { /* the page is going anyway */ }
    stop();
  });

  window.pitcrew.call = {
    state: function () { return panel.dataset.state; },
    connection: function () { return pc ? pc.connectionState : "closed"; }
  };

  show(status === "live" ? "starting" : (status === "completed" || status === "cancelled") ? "over" : "waiting");
  if (status === "completed" || status === "cancelled") over = true;
  loaded = refreshStatus();
  loaded.then(function () {
    if (status === "live" && !wanted && !over) start();
  });
})();
