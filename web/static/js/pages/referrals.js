// Green-channel referrals. The referral desk sees every one; a county department's desk sees its
// incoming ones (live), with the report behind each; both accept into a published slot, mark the
// arrival, close with a back-referral. Desks also publish the department's capacity. Clinics see
// the referrals they sent.
import { api } from "../api.js";
import { beep, listen } from "../events.js";
import { errorText, pick, t } from "../i18n.js";
import { DEFAULT_ZONE, asCards, centerSpan, centerTime, countyDepartments, showReferralError } from "../refer.js";
import { chip, clear, field, formData, frame, h, patientLabel, select, table, toast } from "../ui.js";

const user = frame("referrals");
const role = user ? user.role : "";
const desk = role === "referral_desk" || role === "department_desk";
const publisher = desk || role === "admin";
const STATUSES = ["opened", "accepted", "arrived", "closed", "cancelled"];
const KINDS = ["cath_lab", "ward_bed", "clinic_session", "icu_bed"];
const box = h("section.card.wide#referral-list");
const capacityBox = h("section.card.wide#capacity");
const filter = select("status", [["", t("showAll")], ...STATUSES.map((s) => [s, t(s)])], "");
filter.id = "referral-filter";
const state = { zone: DEFAULT_ZONE, departments: [], institutions: {}, slots: [], mine: null, reports: new Set() };

if (user) {
  const title = role === "department_desk" ? t("departmentDesk") : t("referrals");
  clear(document.getElementById("main"),
    h("div.toolbar", h("h1#referrals-title", title), field(t("status"), filter)), box,
    publisher ? capacityBox : null);
  filter.addEventListener("change", refresh);
  init();
}

const action = (fn) => async (ev) => {
  const btn = ev && ev.currentTarget;
  if (ev && ev.preventDefault) ev.preventDefault();
  if (btn) btn.disabled = true;
  try {
    await fn(ev);
  } catch (err) {
    showReferralError(err);
  } finally {
    if (btn) btn.disabled = false;
  }
};

async function init() {
  const [insts, deps] = await Promise.all([api.get("/api/v1/institutions").catch(() => []), countyDepartments()]);
  for (const i of insts) state.institutions[i.id] = pick(i.name, i.name_en);
  state.departments = deps;
  state.mine = role === "department_desk" ? deps.find((d) => d.id === user.department_id) || null : null;
  await refreshSlots();
  refresh();
  listen((event) => {
    if (String(event.type).startsWith("referral")) {
      beep(event.urgency === "stat");
      toast(pick(event.title, event.title_en) || t("referrals"));
    }
    refresh();
    if (publisher) refreshSlots();
  });
}

const depName = (id) => {
  const d = state.departments.find((x) => x.id === id);
  return d ? pick(d.name, d.name_en) : "";
};

async function refresh() {
  const rows = await api.get("/api/v1/referrals", { status: filter.value });
  const body = [];
  for (const r of rows) {
    body.push(h("tr", { className: r.urgency === "stat" ? "critical" : "", dataset: { id: r.id } },
      h("td", patientLabel(r.patient), h("div.muted", "#" + r.id)),
      h("td", state.institutions[r.from_institution_id] || ""),
      h("td", depName(r.to_department_id)), h("td", chip(r.urgency)),
      h("td.text", r.reason, r.summary ? h("div.muted", r.summary) : null),
      h("td", chip(r.status), h("div.muted", centerTime(r.opened_at, state.zone))),
      h("td.slot", r.slot_at ? centerTime(r.slot_at, state.zone) + " · " + r.slot_place : "",
        r.back_referral_summary ? h("div.muted", t("backReferral") + ": " + r.back_referral_summary) : null),
      h("td.actions", reportButton(r), desk ? actions(r) : null)));
    if (state.reports.has(r.id)) body.push(reportRow(r));
  }
  clear(box, asCards(table([t("patient"), t("from"), t("department"), t("urgency"), t("reason"), t("status"), t("slot"), ""], body)));
}

function reportButton(r) {
  if (!r.request_id && !r.report_id) return null;
  const shown = state.reports.has(r.id);
  return h("button.view-report", { type: "button", on: { click: () => {
    if (shown) state.reports.delete(r.id);
    else state.reports.add(r.id);
    refresh();
  } } }, shown ? t("hideReport") : t("viewReport"));
}

function reportRow(r) {
  const cell = h("td.report-behind", { colSpan: 8 }, t("loading"));
  api.get(`/api/v1/referrals/${r.id}/report`).then((rep) => clear(cell,
    h("div.report-card", { dataset: { report: rep.id } },
      h("strong", t("report") + " · " + t("impression") + ": "), rep.impression,
      h("p.text", t("findings") + ": " + rep.findings),
      h("p.muted", t("signer") + ": " + (rep.signer_name || "") + " · " + centerTime(rep.signed_at, state.zone), " ",
        h("a.button", { href: `/report/${rep.id}/print` }, t("print"))))))
    .catch((err) => clear(cell, h("p.muted", err.status === 404 ? t("empty") : errorText(err))));
  return h("tr.report-row", { dataset: { reportFor: r.id } }, cell);
}

function actions(r) {
  const out = [];
  const post = (path, body) => action(async () => {
    await api.post(`/api/v1/referrals/${r.id}/${path}`, body);
    await refresh();
    refreshSlots();
  });
  if (r.status === "opened") out.push(h("button.primary.accept", { type: "button", on: { click: () => slotDialog(r) } }, t("accept")));
  if (r.status === "accepted") out.push(h("button.arrive", { type: "button", on: { click: post("arrive") } }, t("arrive")));
  if (r.status === "arrived") {
    out.push(h("button.close", { type: "button", on: { click: () => textDialog(r, "close", t("close")) } }, t("close")));
  }
  if ((r.status === "arrived" || r.status === "closed") && !r.back_referred_at) {
    out.push(h("button.back", { type: "button", on: { click: () => textDialog(r, "back-referral", t("backReferral")) } }, t("backReferral")));
  }
  if (r.status === "opened" || r.status === "accepted") {
    out.push(h("button.cancel", { type: "button", on: { click: () => textDialog(r, "cancel", t("cancel"), "reason") } }, t("cancel")));
  }
  return out;
}

function dialog(title, fields, submit) {
  const form = h("form.stack", h("h3", title), fields,
    h("div.row", h("button.primary", { type: "submit" }, t("save")),
      h("button", { type: "button", on: { click: () => { dlg.close(); dlg.remove(); } } }, t("cancel"))));
  const dlg = h("dialog", form);
  form.addEventListener("submit", action(async () => {
    try {
      await submit(formData(form));
    } finally {
      refreshSlots();
    }
    dlg.close();
    dlg.remove();
    refresh();
  }));
  document.body.append(dlg);
  dlg.showModal();
}

const slotLabel = (s) => `${t(s.kind)} · ${s.place} · ${centerSpan(s.starts_at, s.ends_at, state.zone)} · ${t("free")} ${s.capacity - s.booked}/${s.capacity}`;

async function slotDialog(r) {
  await refreshSlots();
  const free = state.slots.filter((s) => s.department_id === r.to_department_id && s.booked < s.capacity);
  if (!free.length) {
    toast(t("noFreeSlot"), "error", 8000);
    return;
  }
  const choice = select("slot_id", free.map((s) => [String(s.id), slotLabel(s)]), String(free[0].id));
  dialog(t("accept") + " · " + patientLabel(r.patient), [field(t("chooseSlot"), choice)],
    (v) => api.post(`/api/v1/referrals/${r.id}/accept`, { slot_id: Number(v.slot_id) }));
}

function textDialog(r, path, title, name = "summary") {
  dialog(title + " · " + patientLabel(r.patient),
    [field(t(name), h("textarea", { name, rows: 3, required: path !== "close" }))],
    (v) => api.post(`/api/v1/referrals/${r.id}/${path}`, { [name]: v[name] }));
}

// --- capacity: what the departments publish -------------------------------------------------------

async function refreshSlots() {
  if (!publisher) return;
  const query = state.mine ? { department: state.mine.code } : {};
  const listed = await api.get("/api/v1/capacity", query).catch(() => null);
  if (!listed) return;
  state.zone = listed.timezone || DEFAULT_ZONE;
  state.slots = listed.slots;
  drawCapacity();
}

function drawCapacity() {
  const rows = state.slots.map((s) => h("tr", { dataset: { slot: s.id }, className: s.booked >= s.capacity ? "full" : "" },
    h("td", depName(s.department_id)), h("td", t(s.kind)), h("td", s.place),
    h("td", centerSpan(s.starts_at, s.ends_at, state.zone)),
    h("td.count", `${s.booked}/${s.capacity}`),
    h("td.actions", s.booked === 0 ? h("button.withdraw", { type: "button", on: { click: action(async () => {
      await api.post(`/api/v1/capacity/${s.id}/withdraw`);
      refreshSlots();
    }) } }, t("withdraw")) : null)));
  clear(capacityBox, h("h2", t("capacity")),
    asCards(table([t("department"), t("resourceKind"), t("place"), t("time"), t("booked") + "/" + t("places"), ""], rows)),
    publishForm());
}

function publishForm() {
  const deps = state.mine ? [state.mine] : state.departments.filter((d) => d.code !== "referral_desk");
  const today = new Intl.DateTimeFormat("en-CA", { timeZone: state.zone, dateStyle: "short" }).format(new Date());
  const form = h("form.row.publish#publish-slot",
    field(t("department"), select("department", deps.map((d) => [d.code, pick(d.name, d.name_en)]), deps[0] ? deps[0].code : "")),
    field(t("resourceKind"), select("kind", KINDS.map((k) => [k, t(k)]), "cath_lab")),
    field(t("place"), h("input", { name: "place", required: true, maxLength: 200 })),
    field(t("date"), h("input", { name: "date", type: "date", required: true, value: today })),
    field(t("startsAt"), h("input", { name: "start", type: "time", required: true, value: "08:00" })),
    field(t("endsAt"), h("input", { name: "end", type: "time", required: true, value: "12:00" })),
    field(t("places"), h("input", { name: "capacity", type: "number", min: 1, max: 500, required: true, value: 1 })),
    h("button.primary", { type: "submit" }, t("publishSlot")));
  form.addEventListener("submit", action(async () => {
    const v = formData(form);
    // times without a zone: the server reads them in the center's time zone
    await api.post("/api/v1/capacity", { department: v.department, kind: v.kind, place: v.place,
      starts_at: `${v.date}T${v.start}`, ends_at: `${v.date}T${v.end}`, capacity: Number(v.capacity) });
    toast(t("publishSlot") + " ✓", "ok");
    refreshSlots();
  }));
  return h("div", h("h3", t("publishSlot")), form);
}
