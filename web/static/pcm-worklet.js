// AudioWorklet: microphone -> mono -> 16 kHz -> PCM16 frames of 100 ms, posted to the page.
// The capture device may deliver 44.1/48 kHz stereo (Chromium's fake device does): channels are
// averaged, a 4th-order low-pass (two biquads at 7 kHz) keeps aliasing out, then linear
// interpolation resamples with the fractional position carried across blocks.
"use strict";

const OUT_RATE = 16000;
const FRAME = 1600; // 100 ms at 16 kHz

class Biquad {
  constructor(rate, cutoff) {
    const w = 2 * Math.PI * cutoff / rate, q = Math.SQRT1_2;
    const alpha = Math.sin(w) / (2 * q), cos = Math.cos(w), a0 = 1 + alpha;
    this.b0 = (1 - cos) / 2 / a0; this.b1 = (1 - cos) / a0; this.b2 = this.b0;
    this.a1 = -2 * cos / a0; this.a2 = (1 - alpha) / a0;
    this.x1 = this.x2 = this.y1 = this.y2 = 0;
  }
  run(x) {
    const y = this.b0 * x + this.b1 * this.x1 + this.b2 * this.x2 - this.a1 * this.y1 - this.a2 * this.y2;
    this.x2 = this.x1; this.x1 = x; this.y2 = this.y1; this.y1 = y;
    return y;
  }
}

class PcmCapture extends AudioWorkletProcessor {
  constructor() {
    super();
    this.step = sampleRate / OUT_RATE; // input samples per output sample
    this.filters = sampleRate > OUT_RATE ? [new Biquad(sampleRate, 7000), new Biquad(sampleRate, 7000)] : [];
    this.pos = 0;        // fractional read position relative to the current block
    this.prev = 0;       // last filtered input sample of the previous block
    this.out = new Int16Array(FRAME);
    this.n = 0;
    this.peak = 0;
    this.running = true;
    this.port.onmessage = (ev) => {
      if (ev.data === "flush") this.flush();
      if (ev.data === "stop") { this.flush(); this.running = false; this.port.postMessage({ done: true }); }
    };
  }

  flush() {
    if (this.n > 0) {
      const frame = this.out.slice(0, this.n);
      this.port.postMessage({ pcm: frame.buffer, peak: this.peak }, [frame.buffer]);
      this.n = 0; this.peak = 0;
    }
  }

  process(inputs) {
    if (!this.running) return false;
    const input = inputs[0];
    if (!input || input.length === 0 || !input[0]) return true;
    const len = input[0].length, chans = input.length;
    const mono = new Float32Array(len);
    for (let c = 0; c < chans; c++) {
      const data = input[c];
      for (let i = 0; i < len; i++) mono[i] += data[i] / chans;
    }
    for (const f of this.filters) for (let i = 0; i < len; i++) mono[i] = f.run(mono[i]);
    // positions: -1 is the previous block's last sample, 0..len-1 this block
    let pos = this.pos;
    while (pos < len - 1 + 1e-9) {
      const i = Math.floor(pos), frac = pos - i;
      const a = i < 0 ? this.prev : mono[i];
      const b = mono[Math.min(i + 1, len - 1)];
      let s = a + (b - a) * frac;
      s = Math.max(-1, Math.min(1, s));
      const abs = Math.abs(s);
      if (abs > this.peak) this.peak = abs;
      this.out[this.n++] = s < 0 ? s * 0x8000 : s * 0x7fff;
      if (this.n === FRAME) this.flush();
      pos += this.step;
    }
    this.pos = pos - len;
    this.prev = mono[len - 1];
    return true;
  }
}

registerProcessor("pcm-capture", PcmCapture);
