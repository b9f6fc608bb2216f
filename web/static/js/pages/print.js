// The printable report: institution, patient, findings, tracing or key images, signer and time.
import { api } from "../api.js";
import { errorText, pick, t } from "../i18n.js";
import { ageOf, clear, fmtTime, frame, h } from "../ui.js";
import { planView } from "../conclusion.js";

const reportId = Number(location.pathname.split("/")[2]);
const user = frame("report");

if (user) load().catch((err) => clear(document.getElementById("main"), h("p.form-error", errorText(err))));

async function load() {
  const report = await api.get(`/api/v1/reports/${reportId}`);
  const request = await api.get(`/api/v1/requests/${report.request_id}`);
  const p = request.patient || {};
  const insts = await api.get("/api/v1/institutions").catch(() => []);
  const county = insts.find((i) => i.level === "county");
  const signer = report.signer_name || (report.signed_by ? "#" + report.signed_by : "—");
  const figures = [];
  if (request.kind === "ecg_read") {
    const ecgs = await api.get(`/api/v1/requests/${request.id}/ecgs`).catch(() => []);
    const ecgId = (report.data && report.data.ecg_id) || (ecgs.length ? ecgs[ecgs.length - 1].id : null);
    if (ecgId) figures.push(h("img.tracing-img", { src: `/api/v1/ecgs/${ecgId}/render.svg`, alt: "ECG" }));
  }
  if (request.kind === "imaging_read" && report.data && Array.isArray(report.data.key_images)) {
    for (const src of report.data.key_images.slice(0, 4)) figures.push(h("img.key-image", { src: src, alt: "key image" }));
  }
  const m = (report.data && report.data.measurements) || null;
  const statements = (report.data && report.data.statements) || [];
  const sheet = h("article.report-sheet#report-sheet",
    h("header",
      h("h1", county ? pick(county.name, county.name_en) : t("app")),
      h("p", t("printReport") + " · " + t(request.kind))),
    h("dl",
      h("dt", t("name")), h("dd", p.name || "—"),
      h("dt", t("sex")), h("dd", p.sex ? t(p.sex) : "—"),
      h("dt", t("age")), h("dd", p.birth_date ? String(ageOf(p.birth_date)) : "—"),
      h("dt", t("requestNo")), h("dd", request.identifier),
      h("dt", t("from")), h("dd", request.requesting_institution),
      h("dt", t("created")), h("dd", fmtTime(request.created_at))),
    request.clinical_question ? h("p", h("strong", t("question") + "："), request.clinical_question) : null,
    figures,
    m ? h("p.measure-line", measureLine(m)) : null,
    labTable(report.data) || [h("h3", t("findings")), h("p.body", report.findings || "—")],
    statements.length ? h("ul", statements.map((s) => h("li", s.text))) : null,
    h("h3", t(request.kind === "video_consult" ? "advice" : "impression")), h("p.body#impression-text", report.impression || "—"),
    request.kind === "video_consult" ? planView(report.data) : null,
    report.amendment_reason ? h("p", h("strong", t("amended") + "："), report.amendment_reason) : null,
    h("div.sign",
      h("span", t("signer") + "：" + signer),
      h("span", t("signedAt") + "：" + (report.signed_at ? fmtTime(report.signed_at) : t("draft")))),
    h("p.muted", `v${report.version} · ${t(report.status)} · ${report.content_hash ? report.content_hash.slice(0, 16) : ""}`));
  clear(document.getElementById("main"),
    h("div.toolbar.no-print",
      h("button.primary#print-now", { type: "button", on: { click: () => window.print() } }, t("print")),
      report.status !== "draft" ? h("a.button#print-pdf", { href: `/api/v1/reports/${report.id}/pdf`, target: "_blank", rel: "noopener" }, t("pdfReport")) : null,
      h("button", { type: "button", on: { click: () => history.back() } }, t("back"))),
    sheet);
  document.title = `${t("report")} ${request.identifier}`;
}

function labTable(data) {
  if (!data || !Array.isArray(data.results) || !data.results.length) return null;
  return h("table.grid.lab-results",
    h("thead", h("tr", [t("test"), t("value"), t("unit"), t("flag"), t("range")].map((x) => h("th", x)))),
    h("tbody", data.results.map((r) => h("tr",
      h("td", `${r.name} (${r.code})`), h("td", r.value), h("td", r.unit),
      h("td", { className: r.flag && r.flag !== "N" ? "flag-" + r.flag : "" }, r.flag === "N" ? "" : r.flag || ""),
      h("td", r.reference_range || "")))));
}

const LABELS = { heart_rate: ["HR", "/min"], pr_ms: ["PR", " ms"], qrs_ms: ["QRS", " ms"], qt_ms: ["QT", " ms"],
  qtc_ms: ["QTc", " ms"], p_axis: ["P axis", "°"], qrs_axis: ["QRS axis", "°"], t_axis: ["T axis", "°"] };

function measureLine(m) {
  return Object.entries(m).filter(([, v]) => v !== null && v !== undefined)
    .map(([k, v]) => (LABELS[k] ? `${LABELS[k][0]} ${v}${LABELS[k][1]}` : `${k} ${v}`)).join("  ·  ");
}
