// The image viewer: a request's studies and series, the rendered frames, the report and signing.
import { api } from "../api.js";
import { ImageStage, PRESETS, loadSeries } from "../imagestage.js";
import { errorText, t } from "../i18n.js";
import { mountReferAction } from "../refer.js";
import { action, chip, clear, field, fmtTime, frame, h, isClinic, patientLabel, readOnlyReport, toast } from "../ui.js";
import { ownerBar } from "../conclusion.js";
import { historyCard } from "../history.js";
import { outcomeField } from "../outcome.js";

const requestId = Number(location.pathname.split("/")[2]);
const user = frame("imagingViewer");
const head = h("section.card.wide#imaging-head");
const studiesBox = h("section.card#studies");
const stage = new ImageStage();
const side = h("section.card.side#imaging-report");
const keyImages = [];
let request = null;
let report = null;

const tools = h("div.toolbar",
  h("span", t("preset") + ":"),
  h("button", { type: "button", on: { click: () => { stage.preset = ""; stage.window = stage.series ? stage.series.window : null; stage.load(); } } }, t("preset.auto")),
  Object.keys(PRESETS).map((p) => h("button", { type: "button", dataset: { preset: p }, on: { click: () => stage.setPreset(p) } }, t("preset." + p))),
  h("span.sep"),
  h("button#mode-wl", { type: "button", on: { click: (e) => {
    stage.mode = stage.mode === "wl" ? "pan" : "wl";
    e.currentTarget.classList.toggle("current", stage.mode === "wl");
  } } }, t("window")),
  h("button", { type: "button", on: { click: () => stage.setZoom(stage.zoom * 1.25) } }, "+"),
  h("button", { type: "button", on: { click: () => stage.setZoom(stage.zoom / 1.25) } }, "−"),
  h("button", { type: "button", on: { click: () => stage.reset() } }, t("reset")),
  h("button", { type: "button", on: { click: () => stage.go(stage.index - 1) } }, "▲"),
  h("button", { type: "button", on: { click: () => stage.go(stage.index + 1) } }, "▼"),
  h("button#cine", { type: "button", on: { click: toggleCine } }, "▶"),
  h("button#key-image", { type: "button", on: { click: () => {
    const k = stage.keyImage();
    if (k && !keyImages.includes(k)) keyImages.push(k);
    toast(`${t("keyImages")}: ${keyImages.length}`, "ok");
  } } }, "★"));

if (user) {
  clear(document.getElementById("main"), head,
    h("div.viewer", h("div", h("section.card.tracing", tools, stage.el)), h("div", studiesBox, side)));
  if (!isClinic(user)) mountReferAction(head.parentNode, { requestId, before: head.nextSibling }); // green channel
  load().catch((err) => clear(head, h("p.form-error", errorText(err))));
}

let cine = null;
function toggleCine() {
  if (cine) { clearInterval(cine); cine = null; return; }
  cine = setInterval(() => {
    if (!stage.series) return;
    stage.go((stage.index + 1) % stage.series.slices.length);
  }, 150);
}

async function load() {
  request = await api.get(`/api/v1/requests/${requestId}`);
  clear(head, h("div.head-row", h("h1", t("imagingViewer") + " · " + request.identifier),
    h("span", patientLabel(request.patient)), h("span.muted", request.requesting_institution), chip(request.priority), chip(request.status)),
  request.clinical_question ? h("p", t("question") + ": " + request.clinical_question) : null);
  ownerBar(request, user, () => location.reload()).then((bar) => head.append(bar)); // -- consult: one owner --
  if (request.patient) document.getElementById("main").append(historyCard(request.patient_id, requestId));
  const studies = await api.get(`/api/v1/requests/${requestId}/studies`).catch(() => []);
  if (!studies.length) clear(studiesBox, h("h2", t("studies")), h("p.muted", t("noStudies")));
  else {
    const lists = await Promise.all(studies.map(async (s) => [s, await api.get(`/dicom-web/studies/${s.study_uid}/series`).catch(() => [])]));
    clear(studiesBox, h("h2", t("studies")), lists.map(([s, series]) => h("div.series-list",
      h("strong", `${s.modalities} `, h("span", { dataset: { raw: "device" } }, s.description || "")),
      h("div.muted", `${String(s.study_date || "").replace(/^(\d{4})(\d{2})(\d{2})$/, "$1-$2-$3")} · ${s.num_instances}`),
      series.map((x) => {
        const uid = x["0020000E"].Value[0];
        const desc = (x["0008103E"] && x["0008103E"].Value && x["0008103E"].Value[0]) || "";
        const count = (x["00201209"] && x["00201209"].Value && x["00201209"].Value[0]) || "";
        return h("button", { type: "button", dataset: { series: uid }, on: { click: (e) => openSeries(s.study_uid, uid, e.currentTarget) } },
          `${t("series")} ${x["00200011"] ? x["00200011"].Value[0] : ""} `, h("span", { dataset: { raw: "device" } }, desc), ` (${count})`);
      }))));
    const firstButton = studiesBox.querySelector("button[data-series]");
    if (firstButton) firstButton.click();
  }
  const versions = await api.get(`/api/v1/requests/${requestId}/reports`).catch(() => []);
  report = versions.find((r) => r.status === "draft") || versions[versions.length - 1] || null;
  drawReport();
}

async function openSeries(study, series, button) {
  for (const b of studiesBox.querySelectorAll("button[data-series]")) b.classList.toggle("current", b === button);
  stage.setSeries(await loadSeries(api, study, series));
}

function drawReport() {
  if (isClinic(user)) { // -- ui: the clinic sees its images and the signed report, read-only
    api.get(`/api/v1/requests/${requestId}/reports`).catch(() => [])
      .then((versions) => clear(side, readOnlyReport(versions)));
    return;
  }
  const signed = report && report.status !== "draft";
  const findings = h("textarea#findings", { rows: 6, disabled: signed });
  const impression = h("textarea#impression", { rows: 3, disabled: signed });
  findings.value = report ? report.findings : "";
  impression.value = report ? report.impression : "";
  const outcome = outcomeField(report && report.data ? report.data.outcome : "", "", signed);
  if (report && report.data && Array.isArray(report.data.key_images)) keyImages.push(...report.data.key_images.filter((k) => !keyImages.includes(k)));
  const save = async () => {
    if (request.status === "requested") await api.post(`/api/v1/requests/${requestId}/accept`);
    report = await api.post(`/api/v1/requests/${requestId}/reports`, {
      findings: findings.value.trim(), impression: impression.value.trim(),
      data: { key_images: keyImages, signer_name: user.display_name || user.username, signer_institution: user.institution_name, outcome: outcome.value() },
    });
    request = await api.get(`/api/v1/requests/${requestId}`);
    return report;
  };
  clear(side, h("h2", t("report")), field(t("findings"), findings), field(t("impression"), impression), outcome.element,
    signed ? h("p#signed-note", chip("signed", "ok"), " ", fmtTime(report.signed_at), " ",
      h("a.button", { href: `/report/${report.id}/print` }, t("print")))
      : h("div.row",
        h("button", { type: "button", on: { click: action(async () => { await save(); toast(t("draft") + " ✓", "ok"); }) } }, t("saveDraft")),
        h("button.primary#sign", { type: "button", on: { click: action(async () => {
          const draft = await save();
          report = await api.post(`/api/v1/reports/${draft.id}/sign`);
          toast(t("signed"), "ok");
          drawReport();
        }) } }, t("sign"))));
}
