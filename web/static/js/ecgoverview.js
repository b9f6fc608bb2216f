// The overview of a long ECG: heart-rate trend, rhythm episodes strip, the page being read.
// A click anywhere on it asks to read the recording at that time (onJump(seconds)).
import { clock } from "./ecgpaper.js";
import { pick, t } from "./i18n.js";

const TREND_H = 110;
const STRIP_H = 22;
const AXIS_H = 16;
const LEFT = 34;
const HR_MIN = 30;
const HR_MAX = 200;
const COLORS = { af: "#8e24aa", flutter: "#6a1b9a", svt: "#ef6c00", vt: "#c62828", pause: "#283593",
  sinus_brady: "#00838f", sinus_tachy: "#f9a825", paced: "#546e7a" };

export class EcgOverview {
  constructor(canvas, onJump) {
    this.canvas = canvas;
    this.onJump = onJump;
    this.data = null;
    this.page = null;
    this.drawn = false;
    canvas.addEventListener("click", (e) => {
      if (!this.data) return;
      const r = canvas.getBoundingClientRect();
      const x = e.clientX - r.left;
      const at = ((x - LEFT) / (r.width - LEFT - 4)) * this.data.duration_s;
      this.onJump(Math.max(0, Math.min(this.data.duration_s - 1, at)));
    });
  }

  setData(data) {
    this.data = data;
    return this.draw();
  }

  // The span of the recording on the current page, marked on the overview.
  showPage(start, end) {
    this.page = [start, end];
    this.draw();
  }

  draw() {
    this.drawn = false;
    const d = this.data;
    const box = this.canvas.parentElement;
    if (!d || !box) return false;
    const width = Math.max(280, Math.min(2400, box.clientWidth - 2));
    const height = TREND_H + STRIP_H + AXIS_H + 4;
    const dpr = window.devicePixelRatio || 1;
    const c = this.canvas;
    c.width = Math.round(width * dpr);
    c.height = Math.round(height * dpr);
    c.style.width = width + "px";
    c.style.height = height + "px";
    const g = c.getContext("2d");
    if (!g) return false;
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.fillStyle = "#fff";
    g.fillRect(0, 0, width, height);
    const plotW = width - LEFT - 4;
    const x = (s) => LEFT + (s / d.duration_s) * plotW;
    const y = (bpm) => TREND_H - ((Math.min(HR_MAX, Math.max(HR_MIN, bpm)) - HR_MIN) / (HR_MAX - HR_MIN)) * (TREND_H - 8) - 4;
    g.font = "10px sans-serif";
    g.fillStyle = "#666";
    g.strokeStyle = "#e3e3e3";
    for (const bpm of [60, 100, 150]) {
      g.beginPath();
      g.moveTo(LEFT, y(bpm));
      g.lineTo(width - 4, y(bpm));
      g.stroke();
      g.fillText(String(bpm), 4, y(bpm) + 3);
    }
    // the trend: one point per bin, gaps where the bin had no beats
    g.strokeStyle = "#1565c0";
    g.lineWidth = 1.4;
    g.beginPath();
    let pen = false;
    d.hr.forEach((bpm, i) => {
      if (bpm === null) { pen = false; return; }
      const px = x((i + 0.5) * d.bin_s);
      if (pen) g.lineTo(px, y(bpm));
      else g.moveTo(px, y(bpm));
      pen = true;
    });
    g.stroke();
    // the episodes strip
    const top = TREND_H + 2;
    g.fillStyle = "#f3f3f3";
    g.fillRect(LEFT, top, plotW, STRIP_H);
    for (const e of d.episodes) {
      g.fillStyle = e.critical ? "#c62828" : COLORS[e.kind] || "#757575";
      g.fillRect(x(e.start_s), top + (e.critical ? 0 : 4), Math.max(2, x(e.end_s) - x(e.start_s)), e.critical ? STRIP_H : STRIP_H - 8);
    }
    // the time axis
    g.fillStyle = "#444";
    const ticks = Math.max(2, Math.min(6, Math.floor(plotW / 110)));
    for (let i = 0; i <= ticks; i++) {
      const s = (d.duration_s * i) / ticks;
      const label = clock(s);
      const w = g.measureText(label).width;
      g.fillText(label, Math.min(width - w - 2, Math.max(LEFT, x(s) - w / 2)), top + STRIP_H + AXIS_H - 3);
    }
    if (this.page) {
      g.fillStyle = "rgba(21,101,192,0.18)";
      g.strokeStyle = "#0d47a1";
      const [a, b] = this.page;
      g.fillRect(x(a), 0, Math.max(2, x(b) - x(a)), top + STRIP_H);
      g.strokeRect(x(a), 0.5, Math.max(2, x(b) - x(a)), top + STRIP_H - 1);
    }
    this.drawn = true;
    return true;
  }
}

// The episode's name in the page's language.
export function episodeLabel(e) {
  return pick(e.label_zh || t(e.kind), e.label_en || e.kind);
}
