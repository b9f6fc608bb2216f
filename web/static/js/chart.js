// A small SVG line chart of one lab test over time, with the reference range shaded.
import { fmtTime } from "./ui.js";

const NS = "http://www.w3.org/2000/svg";

function el(name, attrs, text) {
  const e = document.createElementNS(NS, name);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}

function parseRange(text) {
  const m = /(-?\d+(?:\.\d+)?)\s*[-–~]\s*(-?\d+(?:\.\d+)?)/.exec(text || "");
  return m ? [Number(m[1]), Number(m[2])] : null;
}

// points: [{observed_at, numeric, flag, range_text, unit}] oldest first or any order.
export function trendChart(points, { width = 560, height = 220 } = {}) {
  const pts = points.filter((p) => p.numeric !== null && p.numeric !== undefined)
    .map((p) => ({ ...p, t: new Date(p.observed_at).getTime() }))
    .sort((a, b) => a.t - b.t);
  const svg = el("svg", { viewBox: `0 0 ${width} ${height}`, class: "chart", role: "img" });
  if (!pts.length) return svg;
  const pad = { l: 48, r: 12, t: 12, b: 28 };
  const range = parseRange(pts[pts.length - 1].range_text);
  let lo = Math.min(...pts.map((p) => p.numeric), range ? range[0] : Infinity);
  let hi = Math.max(...pts.map((p) => p.numeric), range ? range[1] : -Infinity);
  if (hi === lo) { hi += 1; lo -= 1; }
  const span = hi - lo;
  lo -= span * 0.1; hi += span * 0.1;
  const t0 = pts[0].t;
  const t1 = pts.length > 1 ? pts[pts.length - 1].t : t0 + 1;
  const x = (t) => pad.l + ((t - t0) / (t1 - t0 || 1)) * (width - pad.l - pad.r);
  const y = (v) => pad.t + (1 - (v - lo) / (hi - lo)) * (height - pad.t - pad.b);
  if (range) {
    svg.append(el("rect", { x: pad.l, y: y(range[1]), width: width - pad.l - pad.r,
      height: Math.max(0, y(range[0]) - y(range[1])), class: "normal-band" }));
  }
  for (let i = 0; i <= 4; i++) {
    const v = lo + ((hi - lo) * i) / 4;
    svg.append(el("line", { x1: pad.l, x2: width - pad.r, y1: y(v), y2: y(v), class: "gridline" }));
    svg.append(el("text", { x: pad.l - 6, y: y(v) + 4, class: "axis", "text-anchor": "end" }, v.toFixed(1)));
  }
  const path = pts.map((p, i) => `${i ? "L" : "M"}${x(p.t).toFixed(1)},${y(p.numeric).toFixed(1)}`).join(" ");
  svg.append(el("path", { d: path, class: "trend" }));
  for (const p of pts) {
    const c = el("circle", { cx: x(p.t), cy: y(p.numeric), r: 4, class: "pt" + (p.flag ? " flagged" : "") });
    c.append(el("title", {}, `${fmtTime(p.observed_at)}  ${p.value} ${p.unit} ${p.flag || ""}`));
    svg.append(c);
  }
  const first = fmtTime(t0, { dateOnly: true });
  const last = fmtTime(pts[pts.length - 1].t, { dateOnly: true });
  svg.append(el("text", { x: pad.l, y: height - 8, class: "axis" }, first));
  svg.append(el("text", { x: width - pad.r, y: height - 8, class: "axis", "text-anchor": "end" }, last));
  return svg;
}
