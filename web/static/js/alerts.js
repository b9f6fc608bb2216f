// Critical alerts on every page (loaded by the page shell): a banner per open alert sent to the
// signed-in user, from the list on page load and live from the events socket, that stays until
// someone acknowledges it — seen in the app, or phoned through naming the person spoken to.
import { api, currentUser, signedIn } from "./api.js";
import { beep, listen } from "./events.js";
import { lang, pick, t } from "./i18n.js";
import { ageOf, fmtTime, h, showError } from "./ui.js";

const open = new Map();
let box = null;

function container() {
  if (box && box.isConnected) return box;
  box = document.getElementById("critical-alerts");
  if (!box) {
    box = h("section.critical-alerts#critical-alerts", { role: "alert", "aria-live": "assertive" });
    const top = document.getElementById("top");
    if (top) top.after(box);
    else document.body.prepend(box);
  }
  return box;
}

function patientText(a) {
  const parts = [a.patient_name];
  if (a.patient_sex) parts.push(t(a.patient_sex));
  if (a.patient_birth_date) parts.push(ageOf(a.patient_birth_date) + (lang() === "en" ? " y" : "岁"));
  return parts.join(" · ");
}

function levelText(a) {
  if (a.level === 1) return t("alertEscalatedTownship");
  if (a.level >= 2) return t("alertEscalatedDesk");
  return "";
}

function telLink(phone) {
  if (!phone) return h("span", "—");
  return h("a.tel", { href: "tel:" + phone.replace(/[^0-9+]/g, "") }, phone);
}

function banner(a) {
  const person = h("input", { name: "notified_person", maxLength: 200, placeholder: t("alertSpokenTo"), "aria-label": t("alertSpokenTo"),
    on: { input: () => person.classList.remove("invalid") } });
  const seen = h("button.primary.ack-seen", { type: "button", on: { click: () => ack(a, "in_app", "", el) } }, t("alertAckSeen"));
  const phoned = h("button.ack-phoned", { type: "button", on: { click: () => ack(a, "phone", person.value.trim(), el, person) } }, t("alertAckPhoned"));
  const el = h("div.critical-banner", { dataset: { alertId: a.id, level: a.level } },
    h("div.critical-head",
      h("strong", t(a.source === "lab" ? "alertLab" : "alertEcg")),
      levelText(a) ? h("span.chip.bad", levelText(a)) : null,
      h("span.critical-time", fmtTime(a.raised_at))),
    h("div.critical-finding", pick(a.finding_zh, a.finding)),
    h("div.critical-who",
      h("span", t("patient") + ": ", h("b", patientText(a)), a.patient_phone ? [" · ", telLink(a.patient_phone)] : null),
      h("span", t("alertClinic") + ": ", pick(a.clinic_name, a.clinic_name_en || a.clinic_name), " · ", t("phone") + " ", telLink(a.clinic_phone)),
      h("span", t("alertRequest") + ": " + a.request_identifier)),
    h("div.critical-actions", seen, h("span.phoned", person, phoned)));
  return el;
}

function show(a) {
  if (!a || a.acknowledged_at) return;
  const old = open.get(a.id);
  const el = banner(a);
  if (old) old.replaceWith(el);
  else container().prepend(el);
  open.set(a.id, el);
}

function remove(id) {
  const el = open.get(id);
  if (el) el.remove();
  open.delete(id);
}

async function ack(a, method, person, el, input) {
  if (method === "phone" && !person) {
    if (input) {
      input.classList.add("invalid");
      input.focus();
    }
    showError(new Error(t("alertNeedPerson")));
    return;
  }
  for (const b of el.querySelectorAll("button")) b.disabled = true;
  try {
    await api.post(`/api/v1/alerts/${a.id}/ack`, { method, notified_person: person, note: "" });
    remove(a.id);
  } catch (err) {
    if (err.status === 409 || err.status === 404) remove(a.id);
    else {
      for (const b of el.querySelectorAll("button")) b.disabled = false;
      showError(err.status === 409 ? new Error(t("alertAlreadyAcked")) : err);
    }
  }
}

function onEvent(event) {
  if (!event.alert) return;
  if (event.type === "critical.alert" || event.type === "critical.escalated") {
    show(event.alert);
    beep(true);
  } else if (event.type === "critical.ack") {
    remove(event.alert.id);
  }
}

async function start() {
  if (!signedIn() || !currentUser() || document.body.dataset.page === "print") return;
  listen(onEvent);
  try {
    const alerts = await api.get("/api/v1/alerts", { open: "true" });
    for (const a of alerts.slice().reverse()) show(a);
  } catch (err) {
    // the banner loads again with the next page; live events still arrive
  }
}

start();

// One line on an alert's acknowledgement: who, when, how (and to whom a call was made).
export function ackLine(a) {
  if (!a.acknowledged_at) return t("alertNotAcked") + (levelText(a) ? " · " + levelText(a) : "");
  const how = t("ackMethod_" + a.method);
  const whom = a.method === "phone" && a.notified_person ? " → " + a.notified_person : "";
  return `${t("alertAckedBy")}: ${a.acknowledged_by_name || "—"} · ${fmtTime(a.acknowledged_at)} · ${how}${whom}`;
}

// A list of a request's alerts with their acknowledgement, kept live (the reader's side panel).
export function ackPanel(requestId) {
  const list = h("ul.ack-list#alert-acks");
  const panel = h("section.card.ack-panel#critical-acks", h("h3", t("alertAcks")), list);
  panel.hidden = true;
  const load = async () => {
    const rows = await api.get("/api/v1/alerts", { request_id: requestId }).catch(() => []);
    panel.hidden = !rows.length;
    list.replaceChildren(...rows.map((a) => h("li", { className: a.acknowledged_at ? "done" : "open", dataset: { alertId: a.id } },
      h("div", pick(a.finding_zh, a.finding)), h("div.ack-line", ackLine(a)))));
  };
  listen((event) => {
    if (event.alert && event.alert.request_id === requestId) load();
  });
  load();
  return panel;
}
