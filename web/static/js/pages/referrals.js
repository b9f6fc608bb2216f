// The referral desk: incoming green-channel referrals; accept with a slot, arrival, close, back-referral.
import { api } from "../api.js";
import { beep, listen } from "../events.js";
import { pick, t } from "../i18n.js";
import { action, chip, clear, field, fmtTime, formData, frame, h, patientLabel, select, table, toast } from "../ui.js";

const user = frame("referrals");
const box = h("section.card.wide#referral-list");
const filter = select("status", [["", "—"], ...["opened", "accepted", "arrived", "closed", "cancelled"].map((s) => [s, t(s)])], "");
filter.id = "referral-filter";
let departments = {};
let institutions = {};
const desk = user && user.role === "referral_desk";

if (user) {
  clear(document.getElementById("main"),
    h("div.toolbar", h("h1", t("referrals")), field(t("status"), filter)), box);
  filter.addEventListener("change", refresh);
  init();
}

async function init() {
  const insts = await api.get("/api/v1/institutions").catch(() => []);
  for (const i of insts) {
    institutions[i.id] = pick(i.name, i.name_en);
    for (const d of i.departments || []) departments[d.id] = pick(d.name, d.name_en);
  }
  refresh();
  listen((event) => {
    if (String(event.type).startsWith("referral")) {
      beep(event.urgency === "stat");
      toast(pick(event.title, event.title_en) || event.type);
    }
    refresh();
  });
}

async function refresh() {
  const rows = await api.get("/api/v1/referrals", { status: filter.value });
  clear(box, table(
    [t("patient"), t("from"), t("department"), t("urgency"), t("reason"), t("status"), t("slot"), ""],
    rows.map((r) => h("tr", { className: r.urgency === "stat" ? "critical" : "", dataset: { id: r.id } },
      h("td", patientLabel(r.patient)), h("td", institutions[r.from_institution_id] || r.from_institution_id),
      h("td", departments[r.to_department_id] || r.to_department_id), h("td", chip(r.urgency)),
      h("td.text", r.reason), h("td", chip(r.status), h("div.muted", fmtTime(r.opened_at))),
      h("td", r.slot_at ? fmtTime(r.slot_at) + " · " + r.slot_place : "",
        r.back_referral_summary ? h("div.muted", t("backReferral") + ": " + r.back_referral_summary) : null),
      h("td.actions", desk ? actions(r) : null)))));
}

function actions(r) {
  const out = [];
  const post = (path, body) => action(async () => {
    await api.post(`/api/v1/referrals/${r.id}/${path}`, body);
    refresh();
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
    out.push(h("button", { type: "button", on: { click: () => textDialog(r, "cancel", t("cancel"), "reason") } }, t("cancel")));
  }
  return out;
}

function dialog(title, fields, submit) {
  const form = h("form.stack", h("h3", title), fields,
    h("div.row", h("button.primary", { type: "submit" }, t("save")),
      h("button", { type: "button", on: { click: () => { dlg.close(); dlg.remove(); } } }, t("cancel"))));
  const dlg = h("dialog", form);
  form.addEventListener("submit", action(async () => {
    await submit(formData(form));
    dlg.close();
    dlg.remove();
    refresh();
  }));
  document.body.append(dlg);
  dlg.showModal();
}

function slotDialog(r) {
  const soon = new Date(Date.now() + 3600000);
  soon.setMinutes(0, 0, 0);
  const local = new Date(soon.getTime() - soon.getTimezoneOffset() * 60000).toISOString().slice(0, 16);
  dialog(t("accept") + " · " + patientLabel(r.patient), [
    field(t("slot"), h("input", { type: "datetime-local", name: "slot_at", required: true, value: local })),
    field(t("place"), h("input", { name: "slot_place", required: true, value: departments[r.to_department_id] || "" })),
  ], (v) => api.post(`/api/v1/referrals/${r.id}/accept`, { slot_at: new Date(v.slot_at).toISOString(), slot_place: v.slot_place }));
}

function textDialog(r, path, title, name = "summary") {
  dialog(title + " · " + patientLabel(r.patient),
    [field(t(name), h("textarea", { name, rows: 3, required: path !== "close" }))],
    (v) => api.post(`/api/v1/referrals/${r.id}/${path}`, { [name]: v[name] }));
}
