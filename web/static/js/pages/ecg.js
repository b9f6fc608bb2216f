// The ECG viewer: tracing on paper, the machine's measurements and statements (editable), sign.
import { ackPanel } from "../alerts.js"; // -- critical alerts --
import { api } from "../api.js";
import { EcgOverview, episodeLabel } from "../ecgoverview.js";
import { EcgPaper, clock } from "../ecgpaper.js";
import { loadWindow } from "../ecgwindow.js";
import { mountReferAction } from "../refer.js";
import { errorText, lang, pick, t } from "../i18n.js";
import { action, chip, clear, field, fmtTime, frame, h, isClinic, patientLabel, readOnlyReport, toast } from "../ui.js";
import { ownerBar } from "../conclusion.js";
import { historyCard } from "../history.js";
import { outcomeField } from "../outcome.js";

const requestId = Number(location.pathname.split("/")[2]);
const user = frame("ecgViewer");
const MEASURES = [
  ["heart_rate", "heartRate", "/min"], ["pr_ms", "PR", "ms"], ["qrs_ms", "QRS", "ms"], ["qt_ms", "QT", "ms"],
  ["qtc_ms", "QTc", "ms"], ["p_axis", "P axis", "°"], ["qrs_axis", "QRS axis", "°"], ["t_axis", "T axis", "°"],
];
const state = { request: null, ecg: null, report: null, statements: [], unseen: null, overview: null, page: 0, lead: null };
// Long records are read in pages of strips: ROWS rows of ROW_S seconds of one lead.
const ROW_S = 10;
const ROWS = 6;
const PAGE_S = ROW_S * ROWS;
const SHORT_S = 60;

const head = h("section.card.wide#ecg-head");
const readout = h("output.readout#caliper-readout", t("caliperHint"));
const canvas = h("canvas#ecg-canvas", { "aria-label": "ECG" });
const paper = new EcgPaper(canvas, readout);
const viewer = h("section.card.tracing",
  h("div.toolbar",
    h("span", t("zoom") + ":"),
    [0.5, 1, 1.5, 2, 3].map((z) => h("button", { type: "button", dataset: { zoom: z }, on: { click: () => { paper.zoom = z; paper.draw(); } } }, "×" + z)),
    h("button#zoom-fit", { type: "button", on: { click: () => paper.fit() } }, "↔"),
    h("span.sep"),
    h("span", t("layout") + ":"),
    h("button#layout-3x4", { type: "button", on: { click: () => { paper.layout = "3x4"; paper.draw(); } } }, "3×4+1"),
    h("button#layout-12", { type: "button", on: { click: () => { paper.layout = "12x1"; paper.draw(); } } }, "12×1"),
    h("button", { type: "button", on: { click: () => { paper.caliper = null; paper.draw(); readout.textContent = t("caliperHint"); } } }, t("calipers") + " ×"),
    readout),
  h("div.paper-scroll", canvas));
const tracingError = h("p.alert.bad#tracing-error", { hidden: true }, t("tracingUnavailable"));
const pageLabel = h("span#page-label");
const leadSelect = h("select#strip-lead", { "aria-label": t("lead"), on: { change: () => { state.lead = leadSelect.value; showPage(state.page); } } });
const jumpInput = h("input#jump-time", { placeholder: "0:10:00", size: 8, "aria-label": t("jumpTo") });
const prevButton = h("button#page-prev", { type: "button", on: { click: () => showPage(state.page - 1) } }, "◀ " + t("prevPage"));
const nextButton = h("button#page-next", { type: "button", on: { click: () => showPage(state.page + 1) } }, t("nextPage") + " ▶");
const pager = h("form.toolbar#pager", { hidden: true, on: { submit: (e) => {
  e.preventDefault();
  const at = parseClock(jumpInput.value);
  if (at === null) toast(t("badTime"), "error");
  else jumpTo(at);
} } },
prevButton, nextButton, pageLabel, h("span.sep"),
h("label", t("lead") + " ", leadSelect), h("span.sep"),
h("label", t("jumpTo") + " ", jumpInput), h("button#jump-go", { type: "submit" }, "→"));
viewer.insertBefore(pager, viewer.firstChild);
viewer.append(tracingError);
const overviewCanvas = h("canvas#overview-canvas", { "aria-label": t("overview") });
const overview = new EcgOverview(overviewCanvas, (at) => jumpTo(at));
const overviewFacts = h("div.row#overview-facts");
const episodeList = h("ul.episodes#episodes");
const overviewCard = h("section.card.wide#ecg-overview", { hidden: true },
  h("h2", t("overview")), overviewFacts, h("div.overview-box", overviewCanvas), h("h3", t("episodes")), episodeList);
const side = h("section.card.side#ecg-report");
const acks = user ? ackPanel(requestId) : null; // -- critical alerts: who acknowledged --

if (user) {
  clear(document.getElementById("main"), head, overviewCard, h("div.viewer", viewer, side));
  if (!isClinic(user)) mountReferAction(head.parentNode, { requestId, before: head.nextSibling }); // green channel
  load().catch((err) => clear(head, h("p.form-error", errorText(err))));
}

async function load() {
  state.request = await api.get(`/api/v1/requests/${requestId}`);
  drawHead();
  if (state.request.patient) document.getElementById("main").append(historyCard(state.request.patient_id, requestId));
  const ecgs = await api.get(`/api/v1/requests/${requestId}/ecgs`);
  const wanted = Number(new URLSearchParams(location.search).get("ecg"));
  state.ecg = ecgs.find((e) => e.id === wanted) || ecgs[ecgs.length - 1] || null;
  if (!state.ecg) {
    clear(viewer, h("p.muted", t("noEcg")));
  } else {
    openTracing().catch(cannotDraw);
  }
  const versions = await api.get(`/api/v1/requests/${requestId}/reports`).catch(() => []);
  state.report = versions.find((r) => r.status === "draft") || versions[versions.length - 1] || null;
  drawSide();
}

function drawHead() {
  const r = state.request;
  clear(head, h("div.head-row",
    h("h1", t("ecgViewer") + " · " + r.identifier),
    h("span", patientLabel(r.patient)), h("span.muted", r.requesting_institution),
    chip(r.priority), chip(r.status),
    r.critical ? h("span.chip.bad", t("critical") + (r.critical_reason ? ": " + pick(r.critical_reason_zh || r.critical_reason, r.critical_reason) : "")) : null),
  r.clinical_question ? h("p", t("question") + ": " + r.clinical_question) : null);
  ownerBar(r, user, () => location.reload()).then((bar) => head.append(bar)); // -- consult: one owner --
}

function statementText(s) {
  if (lang() === "en") return s.en || s.text_en || s.text || s.zh || s.text_zh || s.code;
  return s.zh || s.text_zh || s.text || s.en || s.text_en || s.code;
}

function machineMeasurements(a) {
  const iv = (a && a.intervals) || {};
  const ax = (a && a.axes) || {};
  return {
    heart_rate: a ? Math.round(a.heart_rate_bpm ?? a.heart_rate ?? 0) || null : null,
    pr_ms: iv.pr_ms ?? null, qrs_ms: iv.qrs_ms ?? null, qt_ms: iv.qt_ms ?? null,
    qtc_ms: iv.qtc_bazett_ms ?? iv.qtc_ms ?? null, p_axis: ax.p ?? null, qrs_axis: ax.qrs ?? null, t_axis: ax.t ?? null,
  };
}

function drawSide() {
  const a = state.ecg ? state.ecg.analysis : null;
  if (isClinic(user)) { // -- ui: the clinic sees its ECG, the machine's statements and the signed report
    api.get(`/api/v1/requests/${requestId}/reports`).catch(() => []).then((versions) => clear(side,
      a && a.critical ? h("div.alert.bad#critical-reasons", t("critical") + ": " + (a.critical_findings || []).map((f) => pick(f.zh, f.en)).join("; ")) : null,
      h("h2", t("machine")), h("ul.statements#statements", ((a && a.statements) || []).map((s) => h("li", statementText(s)))),
      readOnlyReport(versions)));
    return;
  }
  const saved = state.report && state.report.data ? state.report.data : {};
  const m = saved.measurements || machineMeasurements(a);
  state.statements = (saved.statements || (a && a.statements) || []).map((s) => ({ code: s.code, text: statementText(s), keep: true }));
  const signed = state.report && state.report.status !== "draft";
  const measureBox = h("div.measures", MEASURES.map(([key, label, unit]) =>
    field(t(label) + " (" + unit + ")", h("input", { name: key, type: "number", step: "1", value: m[key] ?? "", disabled: signed }))));
  const list = h("ul.statements#statements");
  const drawList = () => clear(list, state.statements.map((s, i) => h("li",
    h("label.check", h("input", { type: "checkbox", checked: s.keep, disabled: signed, on: { change: (e) => { state.statements[i].keep = e.target.checked; } } }),
      h("span", s.text), s.code ? h("code", s.code) : null))));
  drawList();
  const addInput = h("input", { placeholder: t("statements") + " +", disabled: signed });
  const findings = h("textarea#findings", { name: "findings", rows: 4, disabled: signed });
  const impression = h("textarea#impression", { name: "impression", rows: 3, disabled: signed });
  const normalOnly = state.statements.every((s) => s.code === "SR"); // sinus rhythm and nothing else
  const outcome = outcomeField(saved.outcome, state.statements.length ? (normalOnly ? "negative" : "positive") : "", signed);
  findings.value = state.report ? state.report.findings : defaultFindings(m);
  impression.value = state.report ? state.report.impression : state.statements.map((s) => s.text).join("；");
  const collect = () => {
    const values = {};
    for (const [key] of MEASURES) {
      const v = measureBox.querySelector(`[name=${key}]`).value;
      values[key] = v === "" ? null : Number(v);
    }
    return {
      findings: findings.value.trim(), impression: impression.value.trim(),
      data: { ecg_id: state.ecg ? state.ecg.id : null, measurements: values,
        statements: state.statements.filter((s) => s.keep).map((s) => ({ code: s.code, text: s.text })),
        caliper: paper.measure(), signer_name: user.display_name || user.username,
        signer_institution: user.institution_name, outcome: outcome.value() },
    };
  };
  const save = async () => {
    if (state.request.status === "requested") await api.post(`/api/v1/requests/${requestId}/accept`);
    state.report = await api.post(`/api/v1/requests/${requestId}/reports`, collect());
    state.request = await api.get(`/api/v1/requests/${requestId}`);
    drawHead();
    return state.report;
  };
  clear(side,
    h("h2", t("machine")),
    a && a.critical ? h("div.alert.bad#critical-reasons", t("critical") + ": " + (a.critical_findings || []).map((f) => pick(f.zh, f.en)).join("; ")) : null,
    acks,
    h("h3", t("measurements")), measureBox,
    h("h3", t("statements")), list,
    signed ? null : h("form.row", { on: { submit: (e) => {
      e.preventDefault();
      if (!addInput.value.trim()) return;
      state.statements.push({ code: "", text: addInput.value.trim(), keep: true });
      addInput.value = "";
      drawList();
    } } }, addInput, h("button", { type: "submit" }, t("add"))),
    h("h3", t("report")),
    field(t("findings"), findings), field(t("impression"), impression), outcome.element,
    signed ? [h("p.signed#signed-note", chip("signed", "ok"), " ", fmtTime(state.report.signed_at),
      state.report.status === "amended" ? [" ", chip("amended", "warn")] : null,
      " ", h("a.button", { href: `/report/${state.report.id}/print` }, t("print"))),
    amendForm(collect, [findings, impression, addInput, ...measureBox.querySelectorAll("input")])]
      : h("div.row",
        h("button#save-draft", { type: "button", on: { click: action(async () => { await save(); toast(t("draft") + " ✓", "ok"); }) } }, t("saveDraft")),
        h("button.primary#sign", { type: "button", on: { click: action(async () => {
          const draft = await save();
          state.report = await api.post(`/api/v1/reports/${draft.id}/sign`);
          toast(t("signed"), "ok");
          state.request = await api.get(`/api/v1/requests/${requestId}`);
          drawHead();
          drawSide();
        }) } }, t("sign")),
        h("div.stack#view-needed")));
  gate();
}

// A signed report is corrected by an amendment (a new version with a reason; the old one is kept).
function amendForm(collect, inputs) {
  if (!state.report || state.report.superseded_by_id) return null;
  const reason = h("input#amend-reason", { placeholder: t("reason"), required: true, maxLength: 2000 });
  const form = h("form.stack#amend-form", { hidden: true }, field(t("reason"), reason),
    h("button.primary", { type: "submit" }, t("amend")));
  form.addEventListener("submit", action(async () => {
    const body = collect();
    state.report = await api.post(`/api/v1/reports/${state.report.id}/amend`, { reason: reason.value.trim(), ...body });
    toast(t("amended"), "ok");
    drawSide();
  }));
  const open = h("button#amend", { type: "button", on: { click: () => {
    form.hidden = false;
    open.hidden = true;
    for (const el of inputs) el.disabled = false;
    for (const el of document.querySelectorAll("#statements input")) el.disabled = false;
  } } }, t("amend"));
  return [open, form];
}

function defaultFindings(m) {
  const parts = [];
  if (m.heart_rate) parts.push(`HR ${m.heart_rate}/min`);
  if (m.pr_ms) parts.push(`PR ${m.pr_ms} ms`);
  if (m.qrs_ms) parts.push(`QRS ${m.qrs_ms} ms`);
  if (m.qt_ms) parts.push(`QT/QTc ${m.qt_ms}/${m.qtc_ms ?? "-"} ms`);
  if (m.qrs_axis !== null && m.qrs_axis !== undefined) parts.push(`QRS axis ${m.qrs_axis}°`);
  return parts.join(", ");
}

// -- long ECG reading: windows, the overview, pages of strips, no signing unseen --

function fetchWindow(start, duration, leads) {
  return loadWindow(state.ecg, start, duration, leads);
}

async function openTracing() {
  const ecg = state.ecg;
  if (ecg.duration_s <= SHORT_S) {
    const data = await fetchWindow(0, ecg.duration_s, ecg.leads);
    if (!paper.setData(data)) throw new Error(t("tracingUnavailable"));
    await refreshReading();
    return;
  }
  for (const id of ["layout-3x4", "layout-12"]) document.getElementById(id).hidden = true;
  state.overview = await api.get(`/api/v1/ecgs/${ecg.id}/overview`);
  overviewCard.hidden = false;
  drawOverview();
  const leads = state.overview.leads;
  state.lead = leads.includes("II") ? "II" : leads[0];
  clear(leadSelect, leads.map((n) => h("option", { value: n, selected: n === state.lead }, n)));
  pager.hidden = false;
  await showPage(0);
}

function drawOverview() {
  const o = state.overview;
  if (!overview.setData(o)) cannotDraw();
  const fact = (label, value) => h("span.fact", h("span.muted", label + ": "), h("b", value));
  clear(overviewFacts,
    fact(t("duration"), clock(o.duration_s)),
    o.hr_min !== null ? fact(t("rateTrend"), `${Math.round(o.hr_min)}–${Math.round(o.hr_max)} ${t("bpm")}`) : null,
    fact(t("afBurden"), o.af_burden_percent === null ? "—" : `${o.af_burden_percent}%`),
    o.longest_rr_s !== null ? fact(t("longestRr"), `${o.longest_rr_s.toFixed(2)} s`) : null,
    fact(t("ectopy"), `${sum(o.ventricular)} / ${sum(o.supraventricular)}`));
  clear(episodeList, o.episodes.length ? o.episodes.map((e) => h("li" + (e.critical ? ".critical" : ""),
    h("button.link", { type: "button", on: { click: () => jumpTo(e.start_s) } }, clock(e.start_s) + "–" + clock(e.end_s)),
    " ", h("span", episodeLabel(e)), e.rate_bpm ? h("span.muted", ` ${Math.round(e.rate_bpm)} ${t("bpm")}`) : null,
    e.critical ? [" ", h("span.chip.bad", t("critical"))] : null))
    : h("li.muted", o.episodes_known ? t("noEpisodes") : t("episodesUnknown")));
}

function sum(values) {
  return values.reduce((a, b) => a + b, 0);
}

async function showPage(page) {
  const o = state.overview;
  const pages = Math.max(1, Math.ceil(o.duration_s / PAGE_S));
  state.page = Math.max(0, Math.min(pages - 1, page));
  const start = state.page * PAGE_S;
  const duration = Math.min(PAGE_S, o.duration_s - start);
  prevButton.disabled = state.page === 0;
  nextButton.disabled = state.page === pages - 1;
  pageLabel.textContent = `${t("pageOf")} ${state.page + 1} / ${pages} · ${clock(start)}–${clock(start + duration)}`;
  try {
    const data = await fetchWindow(start, duration, [state.lead]);
    paper.setStrips({ lead: state.lead, rowSeconds: ROW_S });
    if (!paper.setData(data)) throw new Error(t("tracingUnavailable"));
    tracingError.hidden = true;
    overview.showPage(start, start + duration);
    await refreshReading();
  } catch (err) {
    cannotDraw(err);
  }
}

function jumpTo(seconds) {
  return showPage(Math.floor(seconds / PAGE_S));
}

// "1:02:03", "2:03" or "123" (seconds) to seconds; null if not a time.
function parseClock(text) {
  const parts = text.trim().split(":");
  if (!text.trim() || parts.length > 3 || parts.some((p) => !/^\d+(\.\d+)?$/.test(p))) return null;
  return parts.reduce((acc, p) => acc * 60 + Number(p), 0);
}

function cannotDraw(err) {
  if (err) console.error(err);
  tracingError.hidden = false;
  state.unseen = null;
  gate();
}

async function refreshReading() {
  const r = await api.get(`/api/v1/ecgs/${state.ecg.id}/reading`);
  state.unseen = r.unseen;
  gate();
}

// The sign button waits until the server agrees the tracing has been seen.
function gate() {
  const sign = document.getElementById("sign");
  const needed = document.getElementById("view-needed");
  if (!sign || !needed) return;
  const ready = Array.isArray(state.unseen) && state.unseen.length === 0;
  sign.disabled = !ready || !state.ecg;
  if (!state.ecg) { clear(needed); return; }
  if (ready) { clear(needed, h("p.muted#viewed-ok", "✓ " + t("allViewed"))); return; }
  const items = (state.unseen || ["tracing"]).map((item) => {
    if (item.startsWith("episode@")) {
      const at = Number(item.slice(8));
      return h("li", t("viewEpisode") + " ", h("button.link", { type: "button", on: { click: () => jumpTo(at) } }, clock(at)));
    }
    return h("li", t({ tracing: "viewTracing", overview: "viewOverview", strips: "viewStrips" }[item] || "viewTracing"));
  });
  clear(needed, h("p.muted", t("toView") + ":"), h("ul#unseen", items));
}

document.addEventListener("keydown", (e) => {
  if (pager.hidden || ["INPUT", "TEXTAREA", "SELECT"].includes(e.target.tagName)) return;
  if (e.key === "PageDown") { e.preventDefault(); showPage(state.page + 1); }
  if (e.key === "PageUp") { e.preventDefault(); showPage(state.page - 1); }
});
