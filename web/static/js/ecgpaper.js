// An ECG tracing on standard paper: 25 mm/s, 10 mm/mV, 1 mm and 5 mm grid, 3x4 + rhythm strip
// or 12x1, zoom, and calipers (drag to measure an interval in ms and an amplitude in mV).
const LAYOUT_3X4 = [["I", "aVR", "V1", "V4"], ["II", "aVL", "V2", "V5"], ["III", "aVF", "V3", "V6"]];
const SPEED = 25; // mm/s
const GAIN = 10; // mm/mV
const ROW_MM = 30;
const LEFT_MM = 10; // room for the calibration pulse
const MAX_CANVAS_PX = 16384; // below what Chromium and Firefox draw (32767 px a side)

// Seconds from the start of a recording as h:mm:ss.
export function clock(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  const hh = Math.floor(s / 3600);
  const mm = String(Math.floor((s % 3600) / 60)).padStart(2, "0");
  return `${hh}:${mm}:${String(s % 60).padStart(2, "0")}`;
}

export class EcgPaper {
  constructor(canvas, readout) {
    this.canvas = canvas;
    this.readout = readout;
    this.zoom = 1;
    this.layout = "3x4";
    this.rhythmLead = "II";
    this.data = null;
    this.caliper = null;
    canvas.addEventListener("pointerdown", (e) => this.down(e));
    canvas.addEventListener("pointermove", (e) => this.move(e));
    canvas.addEventListener("pointerup", (e) => this.up(e));
  }

  setData(data) {
    this.data = data;
    this.index = Object.fromEntries(data.leads.map((n, i) => [n, i]));
    if (!(this.rhythmLead in this.index)) this.rhythmLead = data.leads[Math.min(1, data.leads.length - 1)];
    this.fit();
    return this.drawn;
  }

  // Pages of strips for a long record: one lead, rows of ``rowSeconds`` (data.start_s is where the
  // page starts in the recording); null goes back to the whole-record layouts.
  setStrips(strips) {
    this.strips = strips;
  }

  // Zoom so that the width of the tracing fits the scroll box.
  fit() {
    if (!this.data) return;
    const box = this.canvas.parentElement;
    const widthMm = LEFT_MM + this.rows().widthMm + 2;
    const avail = box ? box.clientWidth - 2 : 1000;
    this.zoom = Math.round(Math.max(0.5, Math.min(3, avail / (widthMm * 4))) * 100) / 100;
    this.caliper = null;
    this.draw();
  }

  get pxPerMm() {
    return 4 * this.zoom;
  }

  // Rows of [lead, t0 seconds, t1 seconds, x offset mm] (seconds from the start of the data)
  rows() {
    const dur = this.data.samples[0].length / this.data.fs;
    if (this.strips) {
      const { lead, rowSeconds } = this.strips;
      const n = Math.max(1, Math.ceil(dur / rowSeconds - 1e-6));
      const rows = Array.from({ length: n }, (_, r) => [[lead, r * rowSeconds, Math.min(dur, (r + 1) * rowSeconds), 0]]);
      return { rows, widthMm: rowSeconds * SPEED };
    }
    const has12 = LAYOUT_3X4.flat().every((n) => n in this.index);
    if (this.layout === "3x4" && has12) {
      const col = dur / 4;
      const rows = LAYOUT_3X4.map((leads) => leads.map((lead, c) => [lead, c * col, (c + 1) * col, c * col * SPEED]));
      rows.push([[this.rhythmLead, 0, dur, 0]]);
      return { rows, widthMm: dur * SPEED };
    }
    return { rows: this.data.leads.map((lead) => [[lead, 0, dur, 0]]), widthMm: dur * SPEED };
  }

  // Draw; false (and nothing claimed as drawn) when the data cannot be drawn.
  draw() {
    this.drawn = false;
    try {
      this.drawn = this.paint();
    } catch (err) {
      console.error("ECG tracing not drawn", err);
    }
    return this.drawn;
  }

  paint() {
    if (!this.data || !this.data.samples.length || !this.data.samples[0].length) return false;
    const { rows, widthMm } = this.rows();
    const dpr = window.devicePixelRatio || 1;
    const wMm = LEFT_MM + widthMm + 2;
    const hMm = rows.length * ROW_MM + 4;
    // a canvas stays within what browsers draw (a 30-minute record is paged, never one canvas)
    const most = Math.min(MAX_CANVAS_PX / (wMm * 4 * dpr), MAX_CANVAS_PX / (hMm * 4 * dpr));
    if (this.zoom > most) this.zoom = Math.floor(most * 100) / 100;
    const k = this.pxPerMm;
    const c = this.canvas;
    c.width = Math.round(wMm * k * dpr);
    c.height = Math.round(hMm * k * dpr);
    c.style.width = wMm * k + "px";
    c.style.height = hMm * k + "px";
    const g = c.getContext("2d");
    if (!g || !c.width || !c.height) return false;
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.fillStyle = "#fffaf8";
    g.fillRect(0, 0, wMm * k, hMm * k);
    for (let mm = 0; mm <= wMm; mm++) this.line(g, mm * k, 0, mm * k, hMm * k, mm % 5 ? "#f6c9c9" : "#e58e8e", mm % 5 ? 0.5 : 1);
    for (let mm = 0; mm <= hMm; mm++) this.line(g, 0, mm * k, wMm * k, mm * k, mm % 5 ? "#f6c9c9" : "#e58e8e", mm % 5 ? 0.5 : 1);
    g.font = `${Math.max(10, 3 * k)}px sans-serif`;
    rows.forEach((row, r) => {
      const base = (r * ROW_MM + ROW_MM * 0.6 + 2) * k;
      // calibration pulse: 1 mV for 0.2 s
      g.strokeStyle = "#111";
      g.lineWidth = 1.2;
      g.beginPath();
      g.moveTo(1 * k, base);
      g.lineTo(2 * k, base);
      g.lineTo(2 * k, base - GAIN * k);
      g.lineTo(7 * k, base - GAIN * k);
      g.lineTo(7 * k, base);
      g.lineTo(8 * k, base);
      g.stroke();
      for (const [lead, t0, t1, xMm] of row) {
        const sig = this.data.samples[this.index[lead]];
        const fs = this.data.fs;
        const x0 = (LEFT_MM + xMm) * k;
        g.fillStyle = "#111";
        if (!sig) continue;
        const label = this.strips ? `${lead}  ${clock((this.data.start_s || 0) + t0)}` : lead;
        g.fillText(label, x0 + 1 * k, base - 12 * k);
        g.beginPath();
        const i0 = Math.floor(t0 * fs);
        const i1 = Math.min(sig.length, Math.floor(t1 * fs));
        const step = Math.max(1, Math.floor(fs / (SPEED * k * 2)));
        for (let i = i0; i < i1; i += step) {
          const x = x0 + ((i - i0) / fs) * SPEED * k;
          const y = base - (sig[i] || 0) * GAIN * k;
          if (i === i0) g.moveTo(x, y);
          else g.lineTo(x, y);
        }
        g.strokeStyle = "#111";
        g.lineWidth = 1.1;
        g.stroke();
        if (xMm > 0) this.line(g, x0, base - 4 * k, x0, base + 4 * k, "#111", 1);
      }
    });
    g.fillStyle = "#333";
    g.fillText(`${SPEED} mm/s  ${GAIN} mm/mV  ×${this.zoom}`, (LEFT_MM + 1) * k, hMm * k - 1.2 * k);
    this.drawCaliper(g);
    return true;
  }

  line(g, x1, y1, x2, y2, color, width) {
    g.strokeStyle = color;
    g.lineWidth = width;
    g.beginPath();
    g.moveTo(x1, y1);
    g.lineTo(x2, y2);
    g.stroke();
  }

  point(e) {
    const r = this.canvas.getBoundingClientRect();
    return { x: e.clientX - r.left, y: e.clientY - r.top };
  }

  down(e) {
    this.canvas.setPointerCapture(e.pointerId);
    const p = this.point(e);
    this.caliper = { x1: p.x, y1: p.y, x2: p.x, y2: p.y, dragging: true };
    this.draw();
  }

  move(e) {
    if (!this.caliper || !this.caliper.dragging) return;
    const p = this.point(e);
    Object.assign(this.caliper, { x2: p.x, y2: p.y });
    this.draw();
  }

  up() {
    if (this.caliper) this.caliper.dragging = false;
  }

  // The caliper's interval in ms and amplitude in mV.
  measure() {
    if (!this.caliper) return null;
    const k = this.pxPerMm;
    const ms = (Math.abs(this.caliper.x2 - this.caliper.x1) / k / SPEED) * 1000;
    const mv = -(this.caliper.y2 - this.caliper.y1) / k / GAIN;
    return { ms: Math.round(ms), mv: Math.round(mv * 100) / 100 };
  }

  drawCaliper(g) {
    const c = this.caliper;
    if (!c) return;
    const h = this.canvas.height / (window.devicePixelRatio || 1);
    this.line(g, c.x1, 0, c.x1, h, "#1565c0", 1.5);
    this.line(g, c.x2, 0, c.x2, h, "#1565c0", 1.5);
    this.line(g, c.x1, c.y1, c.x2, c.y1, "#1565c0", 1);
    const m = this.measure();
    const bpm = m.ms > 0 ? Math.round(60000 / m.ms) : 0;
    const text = `${m.ms} ms  ${m.mv} mV${bpm && m.ms >= 200 ? `  (${bpm}/min)` : ""}`;
    g.font = "bold 13px sans-serif";
    const x = Math.min(c.x1, c.x2) + 4;
    g.fillStyle = "rgba(255,255,255,0.85)";
    g.fillRect(x - 2, c.y1 - 30, g.measureText(text).width + 4, 18);
    g.fillStyle = "#0d47a1";
    g.fillText(text, x, c.y1 - 16);
    if (this.readout) this.readout.textContent = text;
  }
}
