// An image stage over the server's rendered frames: slice scrolling, window/level (drag with the
// right button or in W/L mode), presets, zoom and pan, multi-frame; reports changes for co-viewing.
import { t } from "./i18n.js";
import { h } from "./ui.js";

const tag = (obj, key) => (obj && obj[key] && obj[key].Value ? obj[key].Value[0] : undefined);
export const PRESETS = { lung: [-600, 1500], mediastinum: [50, 350], bone: [400, 1800], brain: [40, 80] };

export async function loadSeries(api, study, series) {
  const list = await api.get(`/dicom-web/studies/${study}/series/${series}/instances`);
  const items = list.map((x) => ({
    uid: tag(x, "00080018"), number: Number(tag(x, "00200013") || 0), frames: Number(tag(x, "00280008") || 1),
  })).sort((a, b) => a.number - b.number);
  // one entry per frame: multi-frame instances are scrolled frame by frame
  const slices = [];
  for (const it of items) {
    for (let f = 1; f <= it.frames; f++) slices.push({ uid: it.uid, frame: f, frames: it.frames });
  }
  let window = null;
  if (items.length) {
    try {
      const meta = await api.get(`/dicom-web/studies/${study}/series/${series}/instances/${items[0].uid}/metadata`);
      const m = meta[0] || {};
      const c = Number(tag(m, "00281050"));
      const w = Number(tag(m, "00281051"));
      if (Number.isFinite(c) && Number.isFinite(w) && w > 0) window = [c, w];
    } catch (e) {
      window = null;
    }
  }
  return { study, series, slices, window };
}

export class ImageStage {
  constructor(onChange) {
    this.onChange = onChange || (() => {});
    this.img = h("img", { alt: "", draggable: false });
    this.img.addEventListener("load", () => this.draw());
    this.overlay = h("div.overlay");
    this.pointer = h("div.pointer", { hidden: true });
    this.el = h("div.image-stage#image-stage", { tabIndex: 0 }, this.img, this.overlay, this.pointer);
    this.series = null;
    this.index = 0;
    this.window = null;
    this.preset = "";
    this.zoom = 1;
    this.pan = [0, 0];
    this.mode = "pan";
    this.cache = new Map();
    this.el.addEventListener("wheel", (e) => this.wheel(e), { passive: false });
    this.el.addEventListener("pointerdown", (e) => this.down(e));
    this.el.addEventListener("pointermove", (e) => this.move(e));
    this.el.addEventListener("pointerup", () => { this.drag = null; this.load(); });
    this.el.addEventListener("contextmenu", (e) => e.preventDefault());
    this.el.addEventListener("keydown", (e) => {
      if (e.key === "ArrowUp" || e.key === "ArrowLeft") this.go(this.index - 1);
      if (e.key === "ArrowDown" || e.key === "ArrowRight") this.go(this.index + 1);
    });
  }

  setSeries(series) {
    this.series = series;
    this.index = Math.floor(series.slices.length / 2);
    this.window = series.window;
    this.preset = "";
    this.reset(false);
    this.load();
    this.emit("open");
  }

  url(i) {
    const s = this.series.slices[i];
    const base = `/dicom-web/studies/${this.series.study}/series/${this.series.series}/instances/${s.uid}`;
    const path = s.frames > 1 ? `${base}/frames/${s.frame}/rendered` : `${base}/rendered`;
    const q = new URLSearchParams();
    if (this.preset) q.set("preset", this.preset);
    else if (this.window) q.set("window", `${Math.round(this.window[0])},${Math.round(this.window[1])}`);
    const w = Math.min(2048, Math.round(this.el.clientWidth * (window.devicePixelRatio || 1)) || 1024);
    q.set("viewport", `${w},${w}`);
    const qs = q.toString();
    return path + (qs ? "?" + qs : "");
  }

  // The key image of the current view, without a token (for a report).
  keyImage() {
    return this.series ? this.url(this.index) : null;
  }

  load() {
    if (!this.series || !this.series.slices.length) return;
    this.img.src = this.url(this.index);
    for (const j of [this.index + 1, this.index - 1]) {
      if (j >= 0 && j < this.series.slices.length && !this.drag) {
        const pre = new Image();
        pre.src = this.url(j);
      }
    }
    this.draw();
  }

  draw() {
    const nw = this.img.naturalWidth || 1;
    const nh = this.img.naturalHeight || 1;
    const fit = Math.min(this.el.clientWidth / nw, this.el.clientHeight / nh) || 1;
    this.img.style.width = nw * fit + "px";
    this.img.style.height = nh * fit + "px";
    this.img.style.transform = `translate(calc(-50% + ${this.pan[0]}px), calc(-50% + ${this.pan[1]}px)) scale(${this.zoom})`;
    const n = this.series ? this.series.slices.length : 0;
    const wl = this.preset ? this.preset : this.window ? `W ${Math.round(this.window[1])} L ${Math.round(this.window[0])}` : "W/L " + t("preset.auto");
    this.overlay.textContent = `${this.index + 1} / ${n}   ${wl}   ×${this.zoom.toFixed(2)}`;
  }

  go(i) {
    if (!this.series) return;
    const n = this.series.slices.length;
    this.index = Math.max(0, Math.min(n - 1, i));
    this.load();
    this.emit("slice");
  }

  setPreset(name) {
    this.preset = name;
    if (name) this.window = PRESETS[name].slice();
    this.load();
    this.emit("window");
  }

  setWindow(c, w) {
    this.preset = "";
    this.window = [c, Math.max(1, w)];
    this.load();
  }

  reset(emit = true) {
    this.zoom = 1;
    this.pan = [0, 0];
    this.draw();
    if (emit) this.emit("pan_zoom");
  }

  setZoom(z) {
    this.zoom = Math.max(0.25, Math.min(8, z));
    this.draw();
    this.emit("pan_zoom");
  }

  wheel(e) {
    e.preventDefault();
    if (e.ctrlKey) this.setZoom(this.zoom * (e.deltaY < 0 ? 1.1 : 1 / 1.1));
    else this.go(this.index + (e.deltaY > 0 ? 1 : -1));
  }

  down(e) {
    this.el.focus();
    this.el.setPointerCapture(e.pointerId);
    const wl = e.button === 2 || this.mode === "wl";
    this.drag = { x: e.clientX, y: e.clientY, wl, pan: this.pan.slice(), window: (this.window || [40, 400]).slice() };
  }

  move(e) {
    const r = this.el.getBoundingClientRect();
    if (!this.drag) {
      this.emit("pointer", [(e.clientX - r.left) / r.width, (e.clientY - r.top) / r.height]);
      return;
    }
    const dx = e.clientX - this.drag.x;
    const dy = e.clientY - this.drag.y;
    if (this.drag.wl) {
      this.preset = "";
      this.window = [this.drag.window[0] + dy * 2, Math.max(1, this.drag.window[1] + dx * 4)];
      this.draw();
      clearTimeout(this.wlTimer);
      this.wlTimer = setTimeout(() => { this.load(); this.emit("window"); }, 120);
    } else {
      this.pan = [this.drag.pan[0] + dx, this.drag.pan[1] + dy];
      this.draw();
      this.emit("pan_zoom");
    }
  }

  showPointer(x, y) {
    this.pointer.hidden = false;
    this.pointer.style.left = x * 100 + "%";
    this.pointer.style.top = y * 100 + "%";
  }

  emit(action, xy) {
    if (!this.series) return;
    const params = { slice: this.index, zoom: this.zoom, pan_x: this.pan[0], pan_y: this.pan[1] };
    if (this.window) Object.assign(params, { center: this.window[0], width: this.window[1] });
    if (this.preset) params.preset = Object.keys(PRESETS).indexOf(this.preset);
    if (xy) Object.assign(params, { x: xy[0], y: xy[1] });
    this.onChange(action, params);
  }

  // Apply a view state received from someone else (co-viewing).
  apply(action, params) {
    if (!this.series) return;
    if (action === "pointer") { this.showPointer(params.x, params.y); return; }
    if (params.slice !== undefined) this.index = Math.max(0, Math.min(this.series.slices.length - 1, params.slice));
    if (params.preset !== undefined && params.preset >= 0) this.preset = Object.keys(PRESETS)[params.preset] || "";
    else if (params.center !== undefined) { this.preset = ""; this.window = [params.center, params.width]; }
    if (params.zoom !== undefined) this.zoom = params.zoom;
    if (params.pan_x !== undefined) this.pan = [params.pan_x, params.pan_y];
    if (action === "pan_zoom") this.draw();
    else this.load();
  }
}
