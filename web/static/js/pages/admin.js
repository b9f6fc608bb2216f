// Administration: institutions and departments, users, DICOM devices (AE titles), the clinics' HIS links
// and their outbox, the lab catalogue.
import { api } from "../api.js";
import { errorText, pick, t } from "../i18n.js";
import { action, chip, clear, field, fmtTime, formData, frame, h, roleLabel, select, table, toast } from "../ui.js";

const user = frame("admin");
const ROLES = ["admin", "auditor", "village_doctor", "township_doctor", "ecg_specialist", "imaging_specialist",
  "consult_specialist", "lab_technician", "lab_supervisor", "lab_specialist", "referral_desk",
  "duty_desk", "department_desk"]; // -- critical alerts: duty_desk; referrals: department_desk --
const TABS = [["institutions", drawInstitutions], ["users", drawUsers], ["devices", drawDevices], ["his", drawHis],
  ["catalogue", drawCatalogue]];
const body = h("section.card.wide#admin-body");
let institutions = [];

if (user) {
  const tabs = h("div.tabs", TABS.map(([key, draw]) => h("button", { type: "button", id: "tab-" + key, dataset: { tab: key },
    on: { click: (e) => { for (const b of tabs.children) b.classList.toggle("current", b === e.currentTarget); draw().catch(showErr); } } }, t(key))));
  clear(document.getElementById("main"), h("h1", t("admin")), tabs, body);
  tabs.firstChild.click();
}

function showErr(err) {
  clear(body, h("p.form-error", errorText(err)));
}

function instOptions() {
  return institutions.map((i) => [String(i.id), `${pick(i.name, i.name_en)} (${i.code})`]);
}

function addForm(fields, submit, label = t("add")) {
  const form = h("form.row.add-form", fields, h("button.primary", { type: "submit" }, label));
  form.addEventListener("submit", action(async () => {
    await submit(formData(form), form);
    toast(t("save") + " ✓", "ok");
  }));
  return form;
}

async function drawInstitutions() {
  institutions = await api.get("/api/v1/institutions");
  const byId = Object.fromEntries(institutions.map((i) => [i.id, i]));
  clear(body, h("h2", t("institutions")), table([t("code"), t("instName"), t("nameEn"), t("level"), "↑", t("department")],
    institutions.map((i) => h("tr", h("td", i.code), h("td", i.name), h("td", { lang: "en" }, i.name_en), h("td", t(i.level)),
      h("td", i.parent_id ? byId[i.parent_id]?.code || i.parent_id : ""),
      h("td", (i.departments || []).map((d) => h("span.chip", h("code", d.code), " ", pick(d.name, d.name_en))))))),
  h("h3", t("add") + " · " + t("institution")),
  addForm([
    field(t("code"), h("input", { name: "code", required: true })), field(t("instName"), h("input", { name: "name", required: true })),
    field("English", h("input", { name: "name_en" })),
    field(t("level"), select("level", [["county", t("county")], ["township", t("township")], ["village", t("village")]], "village")),
    field("↑", select("parent_id", [["", "—"], ...instOptions()], "")),
  ], async (v) => {
    await api.post("/api/v1/institutions", { ...v, parent_id: v.parent_id ? Number(v.parent_id) : null });
    await drawInstitutions();
  }),
  h("h3", t("add") + " · " + t("department")),
  addForm([
    field(t("institution"), select("inst", instOptions(), "")), field(t("code"), h("input", { name: "code", required: true })),
    field(t("name"), h("input", { name: "name", required: true })), field("English", h("input", { name: "name_en" })),
  ], async (v) => {
    await api.post(`/api/v1/institutions/${v.inst}/departments`, { code: v.code, name: v.name, name_en: v.name_en });
    await drawInstitutions();
  }));
}

async function drawUsers() {
  if (!institutions.length) institutions = await api.get("/api/v1/institutions");
  const names = Object.fromEntries(institutions.map((i) => [i.id, pick(i.name, i.name_en)]));
  const users = await api.get("/api/v1/users");
  clear(body, h("h2", t("users")), table([t("username"), t("name"), t("role"), t("institution"), t("active"), ""],
    users.map((u) => h("tr", h("td", u.username), h("td", u.display_name), h("td", roleLabel(u.role)), h("td", names[u.institution_id] || u.institution_id),
      h("td", chip(u.active ? "active" : "disable", u.active ? "ok" : "bad")),
      h("td.actions",
        h("button", { type: "button", on: { click: action(async () => {
          await api.patch(`/api/v1/users/${u.id}`, { active: !u.active });
          await drawUsers();
        }) } }, u.active ? t("disable") : t("enable")),
        h("button", { type: "button", on: { click: action(async () => {
          const pw = prompt(t("password") + " · " + u.username);
          if (pw) await api.post(`/api/v1/users/${u.id}/password`, { password: pw });
        }) } }, t("password")))))),
  h("h3", t("add") + " · " + t("users")),
  addForm([
    field(t("username"), h("input", { name: "username", required: true })),
    field(t("password"), h("input", { name: "password", type: "password", required: true, minLength: 8, autocomplete: "new-password" })),
    field(t("name"), h("input", { name: "display_name" })),
    field(t("role"), select("role", ROLES.map((r) => [r, roleLabel(r)]), "village_doctor")),
    field(t("institution"), select("institution_id", instOptions(), "")),
    field(t("department"), h("input", { name: "department", placeholder: "cardiology" })),
  ], async (v) => {
    await api.post("/api/v1/users", { ...v, institution_id: Number(v.institution_id), department: v.department || null });
    await drawUsers();
  }));
}

async function drawDevices() {
  if (!institutions.length) institutions = await api.get("/api/v1/institutions");
  const devices = await api.get("/api/v1/imaging/devices");
  const ops = ["store", "find", "move", "get"];
  clear(body, h("h2", t("devices")), table([t("aeTitle"), t("host"), t("port"), t("institution"), "ops", t("active")],
    devices.map((d) => h("tr", h("td", h("code", d.ae_title)), h("td", d.host), h("td", d.port), h("td", d.institution_code),
      h("td", d.operations.map((o) => "C-" + o.toUpperCase()).join(", ")), h("td", chip(d.active ? "active" : "disable", d.active ? "ok" : "bad"))))),
  h("h3", t("add") + " · " + t("devices")),
  addForm([
    field(t("aeTitle"), h("input", { name: "ae_title", required: true, maxLength: 16, pattern: "[ -~]{1,16}" })),
    field(t("host"), h("input", { name: "host", required: true })),
    field(t("port"), h("input", { name: "port", type: "number", min: 1, max: 65535, required: true, value: 104 })),
    field(t("institution"), select("institution", institutions.map((i) => [i.code, `${pick(i.name, i.name_en)} (${i.code})`]), "")),
    h("fieldset.row", ops.map((o) => h("label.check", h("input", { type: "checkbox", name: "allow_" + o, checked: o === "store" }), o))),
  ], async (v) => {
    await api.post("/api/v1/imaging/devices", { ae_title: v.ae_title, host: v.host, port: Number(v.port), institution: v.institution,
      allow: ops.filter((o) => v["allow_" + o]) });
    await drawDevices();
  }));
}

// The HIS links: where each clinic's own system takes the signed reports (HL7 v2 over MLLP), and the
// messages the outbox gave up on (the HIS answered AE, or could not be reached for too long).
const MESSAGE_KINDS = { "ORU^R01": "hisOru", "MDM^T02": "hisMdm", "MDM^T10": "hisCorrection" };
const ACKS = { AA: "hisAccepted", CA: "hisAccepted", AE: "hisMessageError", CE: "hisMessageError", AR: "hisRejected", CR: "hisRejected" };

function outcome(m) {
  if (m.sent_at) return h("span", { title: m.ack_code }, t("hisAccepted"));
  const why = m.ack_code ? t(ACKS[m.ack_code] || "hisRejected") : t("hisUnreachable");
  return h("span", { title: m.last_error }, why, m.ack_text ? h("span.muted", { dataset: { raw: "" } }, " · ", m.ack_text) : "");
}

function linkRow(link, inst) {
  const host = h("input", { name: "host", value: link.host, "aria-label": t("host") });
  const port = h("input", { name: "port", type: "number", min: 0, max: 65535, value: link.port || "", "aria-label": t("port") });
  const save = h("button.save-his", { type: "button", on: { click: action(async () => {
    await api.put(`/api/v1/institutions/${link.institution_id}/his`, { host: host.value.trim(), port: Number(port.value || 0) });
    toast(t("save") + " ✓", "ok");
    await drawHis();
  }) } }, t("save"));
  return h("tr", { dataset: { institution: String(link.institution_id) } },
    h("td", `${pick(inst.name, inst.name_en)} (${inst.code})`), h("td", host), h("td", port),
    h("td.waiting", String(link.waiting)), h("td.stopped", link.stopped ? h("span.chip.bad", String(link.stopped)) : "0"), h("td.actions", save));
}

function messageRow(m, names) {
  const again = h("button.retry-his", { type: "button", on: { click: action(async () => {
    await api.post(`/api/v1/his/outbox/${m.id}/retry`);
    toast(t("hisRetried"), "ok");
    await drawHis();
  }) } }, t("hisRetry"));
  return h("tr", { dataset: { message: String(m.id) } },
    h("td", fmtTime(m.created_at)), h("td", names[m.institution_id] || ""), h("td", t(MESSAGE_KINDS[m.message_type] || "report")),
    h("td", String(m.attempts)), h("td.outcome", outcome(m)), h("td.actions", m.stopped_at ? again : ""));
}

async function drawHis() {
  institutions = await api.get("/api/v1/institutions");
  const byId = Object.fromEntries(institutions.map((i) => [i.id, i]));
  const names = Object.fromEntries(institutions.map((i) => [i.id, pick(i.name, i.name_en)]));
  const [links, stopped, waiting] = await Promise.all([api.get("/api/v1/his/links"),
    api.get("/api/v1/his/outbox?state=stopped"), api.get("/api/v1/his/outbox?state=waiting&limit=50")]);
  const clinics = links.filter((l) => byId[l.institution_id] && byId[l.institution_id].level !== "county");
  const heads = [t("created"), t("institution"), t("kind"), t("hisAttempts"), t("hisOutcome"), ""];
  clear(body, h("h2", t("his")), h("p.muted", t("hisHint")),
    table([t("institution"), t("host"), t("port"), t("hisWaiting"), t("hisStoppedCount"), ""],
      clinics.map((l) => linkRow(l, byId[l.institution_id])), "his-links"),
    h("h3", t("hisStopped")),
    stopped.length ? table(heads, stopped.map((m) => messageRow(m, names)), "his-stopped") : h("p.muted#his-none", t("hisNoneStopped")),
    h("h3", t("hisWaiting")),
    waiting.length ? table(heads, waiting.map((m) => messageRow(m, names)), "his-waiting") : h("p.muted", t("none")));
}

async function drawCatalogue() {
  const tests = await api.get("/api/v1/lab/tests");
  clear(body, h("h2", t("catalogue")), table([t("code"), t("name"), "English", t("unit"), t("specimen"), "components", t("active")],
    tests.map((x) => h("tr", h("td", h("code", x.code)), h("td", x.name), h("td", x.name_en), h("td", x.unit), h("td", x.specimen_type),
      h("td", (x.components || []).join(", ")), h("td", chip(x.active ? "active" : "disable", x.active ? "ok" : "bad"))))),
  h("h3", t("add") + " · " + t("catalogue")),
  addForm([
    field(t("code"), h("input", { name: "code", required: true, placeholder: "LOINC" })),
    field(t("name"), h("input", { name: "name", required: true })), field("English", h("input", { name: "name_en" })),
    field(t("unit"), h("input", { name: "unit" })), field(t("specimen"), h("input", { name: "specimen_type", placeholder: "serum" })),
    field("components", h("input", { name: "components", placeholder: "code, code" })),
    field("decimals", h("input", { name: "decimals", type: "number", min: 0, max: 6, value: 1 })),
  ], async (v) => {
    await api.post("/api/v1/lab/tests", { code: v.code, system: "LN", name: v.name, name_en: v.name_en, unit: v.unit,
      specimen_type: v.specimen_type, components: v.components ? v.components.split(",").map((s) => s.trim()).filter(Boolean) : [],
      decimals: Number(v.decimals || 1), active: true });
    await drawCatalogue();
  }));
}
