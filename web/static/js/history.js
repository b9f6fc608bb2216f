// The patient's history beside a reading: the current ECG against the prior one (rate, intervals,
// axis, ST per lead, statements new or gone), prior ECGs, studies, requests with their signed
// reports, and lab trends (GET /api/v1/patients/{id}/history, audited); and the patient's records
// elsewhere in the region, asked of the regional platform with the patient's consent.
import { api } from "./api.js";
import { errorText, lang, pick, t } from "./i18n.js";
import { chip, clear, fmtTime, h, table } from "./ui.js";

const MEASURE_LABELS = { heart_rate_bpm: "heartRate", pr_ms: "PR", qrs_ms: "QRS", qt_ms: "QT", qtc_ms: "QTc", qrs_axis_deg: "QRS axis" };

const day = (iso) => fmtTime(iso, { dateOnly: true });
const dicomDay = (da) => String(da || "").replace(/^(\d{4})(\d{2})(\d{2})$/, "$1-$2-$3");
const num = (v) => (v === null || v === undefined ? "—" : String(Math.round(v)));
const mv = (v) => (Math.abs(v) < 0.005 ? 0 : v).toFixed(2);
const signed = (v) => (v === null || v === undefined ? "—" : (v > 0 ? "+" : "") + String(Math.round(v)));

function comparison(current, prior) {
  const c = current.comparison;
  const flags = c.flags.length
    ? h("div.alert.bad#serial-flags", t("serialSignificant") + ": " + c.flags.map((f) => pick(f.zh, f.en) || f.code).join("；"))
    : h("p.ok#serial-flags", t("serialNoChange"));
  const rows = c.changes.map((x) => h("tr", { className: x.flag ? "flagged" : "", dataset: { measure: x.name } },
    h("td", t(MEASURE_LABELS[x.name] || x.name) + " (" + x.unit + ")"), h("td", num(x.prior)), h("td", num(x.current)),
    h("td.delta", signed(x.delta), x.flag ? h("span.chip.bad", " " + (pick(x.zh, x.en) || "")) : "")));
  const st = c.st.filter((s) => s.flag).map((s) => h("li", `${s.lead}: ${mv(s.prior_mv)} → ${mv(s.current_mv)} mV`));
  const statements = c.statements.map((s) => h("li", chip(s.new ? "serialNew" : "serialGone", s.new && s.alerting ? "bad" : ""), " ", pick(s.zh, s.en)));
  return h("div#serial",
    h("h3", t("serialTitle"), h("span.muted", " · " + fmtTime(prior.uploaded_at))),
    flags,
    table([t("measurements"), t("serialPrior"), t("serialCurrent"), t("serialChange")], rows, "serial-table"),
    st.length ? [h("h4", t("serialSt")), h("ul", st)] : null,
    statements.length ? [h("h4", t("statements")), h("ul.statements", statements)] : null);
}

function ecgList(ecgs) {
  return ecgs.filter((e) => !e.current).map((e) => h("li", { dataset: { ecg: e.id } },
    h("a", { href: `/ecg/${e.request_id}?ecg=${e.id}` }, fmtTime(e.uploaded_at)),
    " · " + t("heartRate") + " " + num(e.heart_rate_bpm) + "/min",
    e.critical ? h("span.chip.bad", t("critical")) : "",
    h("span.muted", " " + e.statements.slice(0, 3).map((s) => pick(s.zh, s.en)).join("；"))));
}

function requestList(requests) {
  return requests.map((r) => {
    const rep = r.reports[0];
    return h("li", { dataset: { request: r.id } }, day(r.created_at), " · ", t(r.kind), " ", chip(r.status),
      rep ? [" " + t("impression") + (lang() === "en" ? ": " : "："), h("span.report-text", { dataset: { raw: "report" } }, rep.impression || rep.findings || "")]
        : h("span.muted", " " + t("noReportYet")));
  });
}

function labList(labs) {
  return labs.map((trend) => {
    const last = trend.values.slice(-5);
    return h("li", { dataset: { code: trend.code } }, h("strong", trend.name || trend.code), " ",
      last.map((v, i) => h("span", { className: v.flag ? "flagged" : "" }, (i ? " → " : "") + v.value + (v.flag ? " " + v.flag : ""))),
      " " + (trend.unit || ""), h("span.muted", " · " + day(last[last.length - 1].observed_at)));
  });
}

function draw(box, body, regional) {
  const current = body.ecgs.find((e) => e.current);
  const prior = current && body.ecgs.find((e) => e.id === current.prior_id);
  const sections = [
    current && current.comparison && prior ? comparison(current, prior) : null,
    body.ecgs.some((e) => !e.current) ? [h("h3", t("priorEcgs")), h("ul.history#history-ecgs", ecgList(body.ecgs))] : null,
    body.studies.some((s) => !s.current) ? [h("h3", t("priorStudies")), h("ul.history#history-studies",
      body.studies.filter((s) => !s.current).map((s) => h("li", h("a", { href: `/imaging/${s.request_id}` }, dicomDay(s.study_date) || "—"),
        " · " + s.modalities.join("/") + " ", h("span", { dataset: { raw: "device" } }, s.description || ""))))] : null,
    body.requests.length ? [h("h3", t("priorRequests")), h("ul.history#history-requests", requestList(body.requests))] : null,
    body.labs.length ? [h("h3", t("labTrends")), h("ul.history#history-labs", labList(body.labs))] : null,
  ].filter(Boolean);
  clear(box, h("h2", t("history")), sections.length ? sections : h("p.muted#history-none", t("historyNone")), regional);
}

// -- the patient's records elsewhere in the region (GET /api/v1/patients/{id}/regional) --

const known = (key) => (t(key) === key ? "" : t(key)); // a code the pages have no words for is left out

function regionalEntry(e) {
  const kind = e.resource === "Encounter" && known("enc." + e.encounter_class) ? known("enc." + e.encounter_class) : t("fhir." + e.resource);
  return h("li", { dataset: { id: e.id, resource: e.resource } },
    h("span.when", e.date ? (e.date.length > 10 ? fmtTime(e.date) : e.date) : "—"), " · ",
    h("span.chip", kind), " ", h("strong", e.title || ""),
    e.organization ? h("span.muted", " · " + e.organization) : null,
    known("fhirStatus." + e.status) ? h("span.muted", " · " + known("fhirStatus." + e.status)) : null,
    e.text ? h("div.regional-text", e.text) : null);
}

function drawRegional(regional, body) {
  if (!body.configured) return clear(regional);
  const said = { no_identifier: "regionalNoId", not_found: "regionalNotFound", ambiguous: "regionalAmbiguous" }[body.status];
  const notes = [
    body.mismatched ? h("p.alert.warn#regional-mismatched", t("regionalMismatched") + body.mismatched) : null,
    body.skipped ? h("p.muted", t("regionalSkipped") + body.skipped) : null,
    body.unavailable.length ? h("p.muted", t("regionalUnavailable") + body.unavailable.map((k) => t("fhir." + k)).join(lang() === "en" ? ", " : "、")) : null,
    body.more ? h("p.muted", t("regionalMore")) : null,
  ].filter(Boolean);
  return clear(regional,
    h("h3", t("regionalTitle"), h("span.muted", " · " + t("regionalFrom") + " " + (body.source || t("regionalPlatform")))),
    said ? h(body.status === "ambiguous" ? "p.alert.bad#regional-status" : "p.muted#regional-status", t(said))
      : body.entries.length ? h("ul.history#regional-timeline", body.entries.map(regionalEntry))
        : h("p.muted#regional-status", t("regionalNone")),
    notes);
}

// A card that fills itself with the patient's history (the current request left out).
export function historyCard(patientId, requestId) {
  const box = h("section.card.wide#history", h("h2", t("history")), h("p.muted.loading-inline", "…"));
  const regional = h("div#regional");
  api.get(`/api/v1/patients/${patientId}/regional`)
    .then((body) => drawRegional(regional, body))
    .catch((err) => clear(regional, h("h3", t("regionalTitle")), h("p.muted#regional-status", errorText(err))));
  api.get(`/api/v1/patients/${patientId}/history`, { request_id: requestId })
    .then((body) => draw(box, body, regional))
    .catch((err) => clear(box, h("h2", t("history")), h("p.muted", errorText(err)), regional));
  return box;
}
