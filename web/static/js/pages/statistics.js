// The community's figures over a period and an institution: volumes, turnaround against the
// deadlines, critical results, referrals, consults and their durations, positive rates and the
// specialists' workload. Aggregates only (the supervisor's page),
// charts drawn here in SVG, the same figures as CSV.
import { api, getBinary } from "../api.js";
import { pick, t } from "../i18n.js";
import { action, clear, field, frame, h, isClinic, table } from "../ui.js";

const user = frame("statistics");
const KINDS = ["ecg_read", "imaging_read", "lab_test", "video_consult"];
const NS = "http://www.w3.org/2000/svg";
const DAY = 86400000;

function svg(name, attrs, text) {
  const e = document.createElementNS(NS, name);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}

const num = (v, digits = 1) => (v === null || v === undefined ? "—" : Number(v).toFixed(digits).replace(/\.0$/, ""));
const share = (v) => (v === null || v === undefined ? "—" : Math.round(v * 100) + "%");
const localDate = (d) => new Date(d.getTime() - d.getTimezoneOffset() * 60000).toISOString().slice(0, 10);

// Stacked horizontal bars: one per institution, one segment per request kind.
// The charts' width in SVG units: the card's width, so that text stays readable on a phone.
const chartWidth = () => Math.max(300, Math.min(720, document.getElementById("main").clientWidth - 40));

// Report quality: second readings decided in the period and the discrepancies per first reader.
async function qualitySection(q) {
  const { readers } = await api.get("/api/v1/statistics/quality", { since: q.since, until: q.until });
  return h("section.card.wide#stat-quality", h("h2", t("stQuality")),
    readers.length
      ? table([t("stReader"), t("stSecondReadings"), t("stMinor"), t("stMajor"), t("stDiscrepancyRate")],
        readers.map((r) => h("tr", h("td", r.reader_name), h("td", String(r.second_readings)),
          h("td", String(r.minor)), h("td", String(r.major)), h("td", share(r.discrepancy_rate)))))
      : h("p.muted", t("stNoQuality")));
}

function volumeChart(volumes, names) {
  const byInst = new Map();
  for (const v of volumes) {
    const row = byInst.get(v.institution_id) || {};
    row[v.kind] = (row[v.kind] || 0) + v.requests;
    byInst.set(v.institution_id, row);
  }
  const rows = [...byInst.entries()];
  const max = Math.max(1, ...rows.map(([, r]) => KINDS.reduce((s, k) => s + (r[k] || 0), 0)));
  const width = chartWidth(), bar = 18, gap = 8, left = Math.round(width * 0.3), top = 28;
  const step = Math.floor((width - 16) / KINDS.length);
  const height = top + rows.length * (bar + gap) + 8;
  const chart = svg("svg", { viewBox: `0 0 ${width} ${height}`, class: "chart stat-chart", role: "img", "aria-label": t("stVolumes") });
  KINDS.forEach((k, i) => {
    chart.append(svg("rect", { x: 8 + i * step, y: 6, width: 12, height: 12, class: "kind-" + k }),
      svg("text", { x: 24 + i * step, y: 16, class: "axis" }, t(k)));
  });
  const scale = (width - left - 40) / max;
  rows.forEach(([inst, r], i) => {
    const y = top + i * (bar + gap);
    chart.append(svg("text", { x: left - 6, y: y + bar - 5, "text-anchor": "end", class: "axis" }, names(inst)));
    let x = left;
    for (const k of KINDS) {
      const n = r[k] || 0;
      if (!n) continue;
      chart.append(svg("rect", { x, y, width: n * scale, height: bar, class: "kind-" + k }));
      x += n * scale;
    }
    chart.append(svg("text", { x: x + 4, y: y + bar - 5, class: "axis" }, String(KINDS.reduce((s, k) => s + (r[k] || 0), 0))));
  });
  return chart;
}

// Median and 90th percentile against the deadline share, one bar pair per kind and priority.
function turnaroundChart(rows) {
  const width = chartWidth(), bar = 14, gap = 14, left = Math.round(width * 0.3), top = 28;
  const height = top + rows.length * (2 * bar + gap) + 8;
  const max = Math.max(1, ...rows.map((r) => r.p90_minutes || 0));
  const chart = svg("svg", { viewBox: `0 0 ${width} ${height}`, class: "chart stat-chart", role: "img", "aria-label": t("stTurnaround") });
  chart.append(svg("rect", { x: 8, y: 6, width: 12, height: 12, class: "median" }),
    svg("text", { x: 24, y: 16, class: "axis" }, t("stMedian")),
    svg("rect", { x: left, y: 6, width: 12, height: 12, class: "p90" }),
    svg("text", { x: left + 16, y: 16, class: "axis" }, t("stP90")));
  const scale = (width - left - 110) / max;
  rows.forEach((r, i) => {
    const y = top + i * (2 * bar + gap);
    chart.append(svg("text", { x: left - 6, y: y + bar + 4, "text-anchor": "end", class: "axis" }, `${t(r.kind)} · ${t(r.priority)}`));
    chart.append(svg("rect", { x: left, y, width: Math.max(1, (r.median_minutes || 0) * scale), height: bar, class: "median" }));
    chart.append(svg("rect", { x: left, y: y + bar, width: Math.max(1, (r.p90_minutes || 0) * scale), height: bar, class: "p90" }));
    chart.append(svg("text", { x: left + (r.p90_minutes || 0) * scale + 4, y: y + bar + 4, class: "axis" },
      `${num(r.median_minutes)} / ${num(r.p90_minutes)} min`));
  });
  return chart;
}

// The positive rate per kind over the institutions counted: one bar each, 0-100 %.
function positivesChart(rows) {
  const pooled = KINDS.map((k) => {
    const of = rows.filter((r) => r.kind === k);
    const pos = of.reduce((n, r) => n + r.positive, 0), neg = of.reduce((n, r) => n + r.negative, 0);
    return { kind: k, pos, stated: pos + neg };
  }).filter((r) => r.stated);
  const width = chartWidth(), bar = 18, gap = 8, left = Math.round(width * 0.3), top = 8;
  const height = top + pooled.length * (bar + gap) + 8;
  const chart = svg("svg", { viewBox: `0 0 ${width} ${height}`, class: "chart stat-chart", role: "img", "aria-label": t("positives") });
  const scale = width - left - 60;
  pooled.forEach((r, i) => {
    const y = top + i * (bar + gap);
    chart.append(svg("text", { x: left - 6, y: y + bar - 5, "text-anchor": "end", class: "axis" }, t(r.kind)),
      svg("rect", { x: left, y, width: scale, height: bar, class: "track" }),
      svg("rect", { x: left, y, width: Math.max(1, (r.pos / r.stated) * scale), height: bar, class: "kind-" + r.kind }),
      svg("text", { x: left + scale + 4, y: y + bar - 5, class: "axis" }, share(r.pos / r.stated)));
  });
  return chart;
}

function positivesSection(s, nameOf) {
  return h("section.card.wide#stat-positives", h("h2", t("positives")),
    s.positives.length ? [positivesChart(s.positives),
      table([t("institution"), t("kind"), t("reported"), t("positive"), t("negative"), t("positiveShare")],
        s.positives.map((p) => h("tr", { dataset: { institution: p.institution_id, kind: p.kind } },
          h("td", nameOf(p.institution_id)), h("td", t(p.kind)), h("td", String(p.reported)),
          h("td", String(p.positive)), h("td", String(p.negative)), h("td.share", share(p.positive_share)))))]
      : h("p.muted", t("empty")));
}

function workloadSection(s) {
  return h("section.card.wide#stat-workload", h("h2", t("workload")),
    s.workload.length
      ? table([t("specialist"), t("kind"), t("signedReports"), t("amendedReports"), t("medianToSign")],
        s.workload.map((w) => h("tr", { dataset: { user: w.user_id, kind: w.kind } },
          h("td", { dataset: { raw: "name" } }, w.name), h("td", t(w.kind)), h("td.signed", String(w.signed)),
          h("td", String(w.amended)), h("td", num(w.median_minutes) + " min"))))
      : h("p.muted", t("empty")));
}

function figure(label, value, id) {
  return h("div.figure", { id }, h("span.figure-value", String(value)), h("span.figure-label", label));
}

async function institutionsFor() {
  const all = await api.get("/api/v1/institutions");
  const byId = new Map(all.map((i) => [i.id, i]));
  const clinics = all.filter((i) => i.level !== "county");
  const mine = isClinic(user)
    ? clinics.filter((i) => i.id === user.institution_id || i.parent_id === user.institution_id)
    : clinics;
  return { byId, mine };
}

if (user) {
  const main = document.getElementById("main");
  const result = h("div#stat-result");
  const today = new Date();
  const form = h("form.row.card#stat-filter");
  const { byId, mine } = await institutionsFor();
  const nameOf = (id) => { const i = byId.get(id); return i ? pick(i.name, i.name_en) : "#" + id; };
  const levelOf = (i) => (i.level === "township" ? "" : "　");
  clear(form,
    field(t("since"), h("input", { name: "since", type: "date", value: localDate(new Date(today.getTime() - 29 * DAY)) })),
    field(t("until"), h("input", { name: "until", type: "date", value: localDate(today) })),
    field(t("institution"), h("select", { name: "institution_id" },
      isClinic(user) ? null : h("option", { value: "" }, t("stCommunity")),
      mine.map((i) => h("option", { value: i.id, selected: isClinic(user) && i.id === user.institution_id }, levelOf(i) + pick(i.name, i.name_en))))),
    h("button.primary", { type: "submit" }, t("filter")),
    h("button#stat-csv", { type: "button", on: { click: action(download) } }, t("stExport")));
  const query = () => {
    const d = Object.fromEntries(new FormData(form).entries());
    const since = new Date(d.since + "T00:00:00");
    const until = new Date(new Date(d.until + "T00:00:00").getTime() + DAY);
    return { since: since.toISOString(), until: until.toISOString(), institution_id: d.institution_id || undefined };
  };
  async function download() {
    const q = query();
    const { buffer } = await getBinary("/api/v1/statistics.csv", q);
    const url = URL.createObjectURL(new Blob([buffer], { type: "text/csv" }));
    const a = h("a", { href: url, download: `statistics-${q.since.slice(0, 10)}-${q.until.slice(0, 10)}.csv` });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 1000);
  }
  async function load() {
    clear(result, h("p.loading", t("loading")));
    let s;
    try {
      s = await api.get("/api/v1/statistics", query());
    } catch (err) {
      clear(result);
      throw err;
    }
    const total = s.volumes.reduce((n, v) => n + v.requests, 0);
    const done = s.volumes.reduce((n, v) => n + v.completed, 0);
    const overdue = s.volumes.reduce((n, v) => n + v.overdue, 0);
    const within = s.turnaround.reduce((n, r) => n + r.within_deadline, 0);
    const finished = s.turnaround.reduce((n, r) => n + r.completed, 0);
    clear(result,
      h("section.card.wide#stat-figures", h("h2", t("stSummary")),
        h("div.figures",
          figure(t("stRequests"), total, "fig-requests"),
          figure(t("completed"), done, "fig-completed"),
          figure(t("overdue"), overdue, "fig-overdue"),
          figure(t("stWithin"), share(finished ? within / finished : null), "fig-within"),
          figure(t("stCritical"), `${s.critical.acknowledged} / ${s.critical.raised}`, "fig-critical"),
          figure(t("stAckMedian"), num(s.critical.median_ack_minutes) + " min", "fig-ack"),
          figure(t("stReferralsUp"), s.referrals.up, "fig-up"),
          figure(t("stReferralsDown"), s.referrals.down, "fig-down"),
          figure(t("stCompletion"), share(s.referrals.completion_share), "fig-completion"),
          figure(t("stConsults"), `${s.consults_completed} / ${s.consults_requested}`, "fig-consults"),
          figure(t("stConsultMinutes"), `${num(s.consult_median_minutes)} / ${num(s.consult_p90_minutes)} min`, "fig-consult-minutes"))),
      h("section.card.wide#stat-volumes", h("h2", t("stVolumes")),
        s.volumes.length ? volumeChart(s.volumes, nameOf) : null,
        table([t("institution"), t("kind"), t("stRequests"), t("completed"), t("cancelled"), t("stOpen"), t("overdue")],
          s.volumes.map((v) => h("tr", h("td", nameOf(v.institution_id)), h("td", t(v.kind)),
            ["requests", "completed", "cancelled", "open", "overdue"].map((k) => h("td", String(v[k]))))))),
      h("section.card.wide#stat-turnaround", h("h2", t("stTurnaround")),
        s.turnaround.length ? turnaroundChart(s.turnaround) : null,
        table([t("kind"), t("priority"), t("completed"), t("stMedian"), t("stP90"), t("stWithin")],
          s.turnaround.map((r) => h("tr", h("td", t(r.kind)), h("td", t(r.priority)), h("td", String(r.completed)),
            h("td", num(r.median_minutes) + " min"), h("td", num(r.p90_minutes) + " min"), h("td", share(r.within_deadline_share)))))),
      positivesSection(s, nameOf), workloadSection(s));
    if (!isClinic(user)) result.append(await qualitySection(query()));
  }
  form.addEventListener("submit", action(load));
  clear(main, h("h1", t("statistics")), form, result);
  await action(load)();
}
