// The ECG viewer: tracing on paper, the machine's measurements and statements (editable), sign.
import { api } from "../api.js";
import { EcgPaper } from "../ecgpaper.js";
import { errorText, lang, pick, t } from "../i18n.js";
import { action, chip, clear, field, fmtTime, frame, h, isClinic, patientLabel, readOnlyReport, toast } from "../ui.js";

const requestId = Number(location.pathname.split("/")[2]);
const user = frame("ecgViewer");
const MEASURES = [
  ["heart_rate", "heartRate", "/min"], ["pr_ms", "PR", "ms"], ["qrs_ms", "QRS", "ms"], ["qt_ms", "QT", "ms"],
  ["qtc_ms", "QTc", "ms"], ["p_axis", "P axis", "°"], ["qrs_axis", "QRS axis", "°"], ["t_axis", "T axis", "°"],
];
const state = { request: null, ecg: null, report: null, statements: [] };

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
const side = h("section.card.side#ecg-report");

if (user) {
  clear(document.getElementById("main"), head, h("div.viewer", viewer, side));
  load().catch((err) => clear(head, h("p.form-error", errorText(err))));
}

async function load() {
  state.request = await api.get(`/api/v1/requests/${requestId}`);
  drawHead();
  const ecgs = await api.get(`/api/v1/requests/${requestId}/ecgs`);
  const wanted = Number(new URLSearchParams(location.search).get("ecg"));
  state.ecg = ecgs.find((e) => e.id === wanted) || ecgs[ecgs.length - 1] || null;
  if (!state.ecg) {
    clear(viewer, h("p.muted", t("noEcg")));
  } else {
    api.get(`/api/v1/ecgs/${state.ecg.id}/samples`).then((d) => paper.setData(d)).catch((err) => toast(errorText(err), "error"));
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
        signer_institution: user.institution_name },
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
    field(t("findings"), findings), field(t("impression"), impression),
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
        }) } }, t("sign"))));
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
