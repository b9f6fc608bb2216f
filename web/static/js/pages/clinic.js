// The clinic console: patients, consent, requests of every kind, live status, inbox, referrals.
import { api } from "../api.js";
import { trendChart } from "../chart.js";
import { beep, listen } from "../events.js";
import { answerCell } from "../conclusion.js";
import { pick, t } from "../i18n.js";
import { checkResidentId } from "../residentid.js";
import { bookingOf, bookingText, scheduleDialog } from "../schedule.js";
import {
  action, chip, clear, field, fmtDue, fmtTime, formData, frame, h, patientLabel, requestLinks, select, table, toast,
} from "../ui.js";

const user = frame("clinic");
// redrawTests: set by the request form; the catalogue's late arrival refreshes only the test list.
const state = { patient: null, tests: [], departments: [], redrawTests: null };

const patientBox = h("section.card#patients");
const requestBox = h("section.card#new-request");
const listBox = h("section.card.wide#requests");
const inboxBox = h("section.card.wide#inbox");
const referralBox = h("section.card.wide#referrals");
const labBox = h("section.card#cumulative");

if (user) {
  clear(document.getElementById("main"),
    h("div.columns", h("div.col", patientBox, requestBox, labBox), h("div.col.wide", listBox, inboxBox, referralBox)));
  drawPatients();
  drawRequestForm();
  drawCumulative();
  refreshAll();
  loadCatalogues();
  listen((event) => {
    if (event.type === "report.signed" || event.type === "critical") beep(event.type === "critical");
    toast(pick(event.title, event.title_en) || event.type, event.type === "critical" ? "error" : "info");
    refreshAll();
  });
  setInterval(refreshRequests, 60000);
}

function refreshAll() {
  refreshRequests();
  refreshInbox();
  refreshReferrals();
}

async function loadCatalogues() {
  try {
    state.tests = await api.get("/api/v1/lab/tests");
  } catch (e) {
    state.tests = [];
  }
  try {
    const insts = await api.get("/api/v1/institutions");
    const county = insts.find((i) => i.level === "county");
    state.departments = county ? county.departments : [];
  } catch (e) {
    state.departments = [];
  }
  // Only the lab-test list depends on the catalogue: what the doctor already chose or typed stays.
  if (state.redrawTests) state.redrawTests();
}

// --- patients --------------------------------------------------------------------------------

function drawPatients() {
  const results = h("ul.list#patient-results");
  const search = h("form.row#patient-search",
    h("input", { name: "q", placeholder: t("searchHint"), "aria-label": t("search") }),
    h("button", { type: "submit" }, t("search")));
  const run = async () => {
    const q = search.q.value.trim();
    const found = await api.get("/api/v1/patients", /^\d{17}[\dXx]$/.test(q) ? { resident_id: q.toUpperCase() } : { q, limit: 20 });
    clear(results, found.length ? found.map((p) =>
      h("li", h("button.link", { type: "button", on: { click: () => choose(p) } }, patientLabel(p)),
        p.resident_id ? h("span.muted", " " + p.resident_id) : null)) : h("li.muted", t("empty")));
  };
  search.addEventListener("submit", action(run));
  run().catch(() => {});
  const selected = h("div#selected-patient");
  clear(patientBox, h("h2", t("findPatient")), search, results, selected, registerForm());
  if (state.patient) drawSelected(selected);
}

function registerForm() {
  const hint = h("span.hint#rid-hint");
  const rid = h("input", { name: "resident_id", id: "resident_id", maxLength: 18, autocomplete: "off", inputMode: "text" });
  const form = h("form.stack#register",
    field(t("name"), h("input", { name: "name", id: "reg-name", required: true, maxLength: 100 })),
    field(t("residentId"), h("span.with-hint", rid, hint)),
    h("div.row",
      field(t("sex"), select("sex", [["M", t("M")], ["F", t("F")], ["U", t("U")]], "U")),
      field(t("birthDate"), h("input", { name: "birth_date", type: "date" }))),
    h("div.row",
      field(t("phone"), h("input", { name: "phone", type: "tel", maxLength: 32 })),
      field(t("recordNumber"), h("input", { name: "record_number", maxLength: 32 }))),
    h("label.check", h("input", { type: "checkbox", name: "consent", checked: true, defaultChecked: true }), t("consentRecords")),
    h("button.primary", { type: "submit", id: "register-submit" }, t("register")));
  const check = () => {
    const v = rid.value.trim();
    rid.setCustomValidity("");
    if (!v) { hint.textContent = ""; hint.className = "hint"; return true; }
    const r = checkResidentId(v);
    if (!r.ok) {
      hint.textContent = v.length < 18 ? `${v.length}/18` : t(r.problem);
      hint.className = v.length < 18 ? "hint" : "hint bad";
      rid.setCustomValidity(v.length < 18 ? t("ridLen") : t(r.problem));
      return false;
    }
    hint.textContent = "✓ " + t("ridOk");
    hint.className = "hint good";
    form.birth_date.value = r.birthDate;
    form.sex.value = r.sex;
    return true;
  };
  rid.addEventListener("input", check);
  form.addEventListener("submit", action(async () => {
    if (!check()) { rid.reportValidity(); return; }
    const d = formData(form);
    const body = { name: d.name, sex: d.sex, phone: d.phone || "", birth_date: d.birth_date || null,
      resident_id: d.resident_id ? d.resident_id.toUpperCase() : null, record_number: d.record_number || null };
    const p = await api.post("/api/v1/patients", body);
    if (d.consent) await api.post(`/api/v1/patients/${p.id}/consents`, { scope: "records" });
    toast(t("sent") + ": " + p.name, "ok");
    form.reset();
    check();
    choose(p);
  }));
  return h("details.register", h("summary", t("register")), form);
}

async function choose(p) {
  state.patient = p;
  drawSelected(document.getElementById("selected-patient"));
  drawRequestForm();
  drawCumulative();
}

async function drawSelected(box) {
  const p = state.patient;
  if (!p || !box) return;
  const consents = await api.get(`/api/v1/patients/${p.id}/consents`).catch(() => []);
  const active = consents.filter((c) => !c.withdrawn_at);
  const scopes = new Set(active.map((c) => c.scope));
  const give = (scope) => action(async () => {
    await api.post(`/api/v1/patients/${p.id}/consents`, { scope });
    toast(t("consentOk"), "ok");
    drawSelected(box);
  });
  clear(box, h("div.selected",
    h("strong", patientLabel(p)), p.resident_id ? h("div.muted", p.resident_id) : null,
    h("div.consents",
      scopes.has("records") ? h("span.chip.ok", t("hasConsent") + " · " + t("consentRecords"))
        : h("button#consent-records", { type: "button", on: { click: give("records") } }, t("consentRecords")),
      scopes.has("recording") ? h("span.chip.ok", t("hasConsent") + " · " + t("consentRecording"))
        : h("button#consent-recording", { type: "button", on: { click: give("recording") } }, t("consentRecording")),
      scopes.has("regional_records") ? h("span.chip.ok", t("hasConsent") + " · " + t("consentRegional"))
        : h("button#consent-regional", { type: "button", on: { click: give("regional_records") } }, t("consentRegional")))));
}

// --- new request -----------------------------------------------------------------------------

function drawRequestForm() {
  const p = state.patient;
  const kind = select("kind", ["video_consult", "ecg_read", "imaging_read", "lab_test"].map((k) => [k, t(k)]), "ecg_read");
  kind.id = "request-kind";
  const extra = h("div.extra");
  const form = h("form.stack#request-form",
    h("div.row", field(t("kind"), kind),
      field(t("priority"), select("priority", ["routine", "urgent", "stat"].map((k) => [k, t(k)]), "routine"))),
    field(t("question"), h("textarea", { name: "clinical_question", rows: 2, maxLength: 2000 })),
    extra,
    h("button.primary", { type: "submit", id: "request-submit", disabled: !p }, t("send")));
  const drawExtra = () => {
    if (kind.value === "ecg_read") {
      clear(extra,
        field(t("ecgFile"), h("input", { type: "file", name: "file", id: "ecg-file", required: true })),
        field(t("csvFs"), h("input", { name: "csv_fs", type: "number", min: 50, max: 20000, placeholder: "500" })));
    } else if (kind.value === "lab_test") {
      clear(extra, h("fieldset.tests#lab-tests", h("legend", t("tests")),
        state.tests.filter((x) => x.active).map((x) =>
          h("label.check", h("input", { type: "checkbox", name: "tests", value: x.code }),
            `${pick(x.name, x.name_en)} (${x.code}) · ${t("specimen")}: ${t(x.specimen_type)}`))));
    } else {
      clear(extra);
    }
  };
  kind.addEventListener("change", drawExtra);
  drawExtra();
  state.redrawTests = () => {
    if (kind.value !== "lab_test") return;
    const checked = new Set([...form.querySelectorAll("input[name=tests]:checked")].map((x) => x.value));
    drawExtra();
    form.querySelectorAll("input[name=tests]").forEach((x) => { x.checked = checked.has(x.value); });
  };
  form.addEventListener("submit", action(async () => {
    if (!state.patient) { toast(t("selectPatient"), "error"); return; }
    const pid = state.patient.id;
    const d = formData(form);
    let req;
    if (d.kind === "ecg_read") {
      const fd = new FormData();
      fd.set("file", form.file.files[0]);
      fd.set("patient_id", pid);
      fd.set("priority", d.priority);
      fd.set("clinical_question", d.clinical_question);
      if (d.csv_fs) fd.set("csv_fs", d.csv_fs);
      const out = await api.upload("/api/v1/ecgs", fd);
      req = out.request;
      if (out.ecg.critical) toast(t("critical") + ": " + (out.ecg.analysis.critical_findings || []).map((f) => pick(f.zh, f.en)).join("; "), "error", 0);
    } else if (d.kind === "lab_test") {
      const tests = [...form.querySelectorAll("input[name=tests]:checked")].map((x) => x.value);
      const order = await api.post("/api/v1/lab/orders", { patient_id: pid, tests, priority: d.priority, clinical_question: d.clinical_question });
      req = { identifier: order.request_identifier };
    } else {
      req = await api.post("/api/v1/requests", { patient_id: pid, kind: d.kind, priority: d.priority, clinical_question: d.clinical_question, details: {} });
    }
    toast(t("sent") + " " + (req.identifier || ""), "ok");
    form.clinical_question.value = "";
    refreshRequests();
  }));
  clear(requestBox, h("h2", t("newRequest")),
    h("p.muted", p ? patientLabel(p) : t("selectPatient")), form);
}

// --- lists -----------------------------------------------------------------------------------

async function refreshRequests() {
  const rows = await api.get("/api/v1/requests", { limit: 50 }).catch(() => null);
  if (!rows) return;
  clear(listBox, h("h2", t("requests")), table(
    [t("requestNo"), t("patient"), t("kind"), t("priority"), t("status"), t("due"), ""],
    rows.map((r) => h("tr", { className: (r.critical ? "critical " : "") + (r.overdue ? "overdue" : ""), dataset: { id: r.id } },
      h("td", r.identifier), h("td", patientLabel(r.patient)), h("td", t(r.kind)),
      h("td", chip(r.priority)),
      h("td", chip(r.status), r.critical ? chip("critical", "bad") : null, r.overdue ? chip("overdue", "warn") : null),
      h("td", { title: fmtTime(r.due_at) }, ["completed", "cancelled", "rejected"].includes(r.status) ? fmtTime(r.completed_at) : fmtDue(r.due_at)),
      h("td.actions", r.kind === "video_consult" && ["accepted", "in_progress", "requested"].includes(r.status)
        ? h("a.button", { href: `/room/${r.id}` }, t("room")) : requestLinks(r),
      r.status === "on_hold" ? holdSlot(r) : null, bookable(r) ? bookingSlot(r) : null)))));
}

// -- imaging: the clinic books the scan on a modality's worklist (its own, the township's, the county's) --
const bookable = (r) => r.kind === "imaging_read" && ["requested", "accepted", "in_progress", "on_hold"].includes(r.status);

function bookingSlot(r) {
  const slot = h("span.booking");
  const draw = (step) => {
    const label = step ? t("reschedule") : t("scheduleExam");
    clear(slot, step ? h("span.chip.ok.booked", t("bookedAt") + " " + bookingText(step)) : null,
      step && step.status !== "SCHEDULED" ? null : h("button.schedule", { type: "button", on: { click: action(async () => {
        const booked = await scheduleDialog(r, step, patientLabel(r.patient));
        if (booked) draw(booked);
      }) } }, label));
  };
  bookingOf(r.id).then(draw).catch(() => draw(null));
  return slot;
}

// -- consult: a held request shows the specialist's question and an answer form --
function holdSlot(r) {
  const slot = h("div.hold-slot");
  answerCell(r, refreshRequests).then((cell) => { if (cell) slot.append(cell); });
  return slot;
}

async function refreshInbox() {
  const rows = await api.get("/api/v1/inbox").catch(() => null);
  if (!rows) return;
  clear(inboxBox, h("h2", t("inbox")), table(
    [t("requestNo"), t("patient"), t("kind"), t("impression"), t("signedAt"), ""],
    rows.map((d) => h("tr", { className: d.read_at ? "" : "unread", dataset: { report: d.report.id } },
      h("td", d.request_identifier), h("td", patientLabel(d.patient)), h("td", t(d.kind)),
      h("td.text", d.report.impression || d.report.findings),
      h("td", fmtTime(d.report.signed_at)),
      h("td.actions",
        d.read_at ? h("span.muted", t("read")) : h("button.mark-read", { type: "button", on: {
          click: action(async () => { await api.post(`/api/v1/reports/${d.report.id}/read`); refreshInbox(); }),
        } }, t("markRead")),
        h("a.button", { href: `/report/${d.report.id}/print` }, t("print")), requestLinks(d),
        h("button", { type: "button", on: { click: () => referDialog(d) } }, t("refer")))))));
}

function referDialog(d) {
  const form = h("form.stack.dialog",
    h("h3", t("referNow") + " · " + patientLabel(d.patient)),
    field(t("department"), select("department", state.departments.map((x) => [x.code, pick(x.name, x.name_en)]))),
    field(t("urgency"), select("urgency", ["routine", "urgent", "stat"].map((k) => [k, t(k)]), "urgent")),
    field(t("reason"), h("textarea", { name: "reason", required: true, rows: 2 })),
    h("div.row", h("button.primary", { type: "submit" }, t("send")),
      h("button", { type: "button", on: { click: () => dlg.close() } }, t("cancel"))));
  const dlg = h("dialog", form);
  form.addEventListener("submit", action(async () => {
    const v = formData(form);
    await api.post("/api/v1/referrals", { report_id: d.report.id, department: v.department, urgency: v.urgency, reason: v.reason });
    dlg.close();
    dlg.remove();
    toast(t("sent"), "ok");
    refreshReferrals();
  }));
  document.body.append(dlg);
  dlg.showModal();
}

async function refreshReferrals() {
  const rows = await api.get("/api/v1/referrals").catch(() => null);
  if (!rows) return;
  clear(referralBox, h("h2", t("referrals")), table(
    [t("patient"), t("urgency"), t("status"), t("slot"), t("place"), t("summary")],
    rows.map((r) => h("tr", h("td", patientLabel(r.patient)), h("td", chip(r.urgency)), h("td", chip(r.status)),
      h("td", fmtTime(r.slot_at)), h("td", r.slot_place || ""), h("td.text", r.back_referral_summary || r.reason)))));
}

// --- cumulative lab results ------------------------------------------------------------------

function drawCumulative() {
  const p = state.patient;
  if (!p) { clear(labBox); return; }
  const chartBox = h("div.chart-box");
  const code = h("input", { name: "code", placeholder: "LOINC / " + t("code"), list: "test-codes", id: "trend-code" });
  const form = h("form.row", code, h("button", { type: "submit" }, t("cumulative")));
  form.addEventListener("submit", action(async () => {
    const rows = await api.get(`/api/v1/lab/patients/${p.id}/results`, { code: code.value.trim() });
    clear(chartBox, trendChart(rows), table([t("time"), t("value"), t("flag")],
      rows.map((r) => h("tr", h("td", fmtTime(r.observed_at)), h("td", `${r.value} ${r.unit}`), h("td", r.flag || "")))));
  }));
  clear(labBox, h("h2", t("cumulative")),
    h("datalist#test-codes", state.tests.map((x) => h("option", { value: x.code }, pick(x.name, x.name_en)))),
    form, chartBox);
}
