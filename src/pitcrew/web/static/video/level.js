/* How loud the microphone is right now, for the check before a call.
 *
 * The person speaks and sees the bar move: the microphone they chose is the one that hears
 * them. Web Audio's analyser reads the sound; nothing is recorded or sent anywhere.
 */

const EVERY_MS = 100;
const GAIN = 4; // ordinary speech fills most of the bar

export class MicLevel {
  constructor(onLevel) {
    this.onLevel = onLevel; // called with 0…1 every EVERY_MS while listening
    this.audio = null;
    this.timer = null;
  }

  listen(stream) {
    this.stop();
    const track = stream && stream.getAudioTracks()[0];
    const Context = window.AudioContext || window.webkitAudioContext;
    if (!track || !Context) return;
    const audio = new Context();
    const analyser = audio.createAnalyser();
    analyser.fftSize = 512;
    audio.createMediaStreamSource(new MediaStream([track])).connect(analyser);
    const samples = new Uint8Array(analyser.fftSize);
    this.audio = audio;
    audio.resume().catch(() => { /* stays at zero: the call is not affected */ });
    this.timer = setInterval(() => {
      analyser.getByteTimeDomainData(samples);
      let sum = 0;
      samples.forEach((v) => { sum += ((v - 128) / 128) ** 2; });
      this.onLevel(Math.min(1, Math.sqrt(sum / samples.length) * GAIN));
    }, EVERY_MS);
  }

  stop() {
    clearInterval(this.timer);
    this.timer = null;
    if (this.audio) this.audio.close().catch(() => { /* already closed */ });
    this.audio = null;
    this.onLevel(0);
  }
}
