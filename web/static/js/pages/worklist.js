// A specialist's worklist: critical first, then priority and deadline; live from the events socket.
import { api } from "../api.js";
import { beep, listen } from "../events.js";
import { errorText, pick, t } from "../i18n.js";
import { action, chip, clear, fmtDue, fmtTime, frame, h, patientLabel, table, toast } from "../ui.js";

const kind = decodeURIComponent(location.pathname.split("/")[2] || "");
const user = frame("worklist");
const box = h("section.card.wide#worklist");
const banner = h("div.banner#stat-banner", { hidden: true });
let known = new Set();
let first = true;

const VIEW = {
  ecg_read: (r) => `/ecg/${r.id}`,
  imaging_read: (r) => `/imaging/${r.id}`,
  video_consult: (r) => `/consult/${r.id}`, // the consult page: request, room, opinion
  lab_test: () => "/lab",
};

if (user) {
  clear(document.getElementById("main"), banner, box);
  refresh();
  listen((event) => {
    const urgent = event.type === "critical" || event.priority === "stat" || event.critical;
    if (event.type === "request.received" || urgent) {
      beep(urgent);
      toast(pick(event.title, event.title_en) || t("newItem"), urgent ? "error" : "info", urgent ? 0 : 6000);
    }
    refresh();
  });
  setInterval(refresh, 60000);
}

async function refresh() {
  let rows;
  try {
    rows = await api.get("/api/v1/worklist", { kind });
  } catch (err) {
    clear(box, h("p.form-error", errorText(err)));
    return;
  }
  const fresh = rows.filter((r) => !known.has(r.id));
  const stat = fresh.filter((r) => r.critical || r.priority === "stat");
  if (!first && stat.length) {
    banner.hidden = false;
    clear(banner, t("statAlert") + " " + stat.map((r) => r.identifier).join(", "),
      h("button.link", { type: "button", on: { click: () => { banner.hidden = true; } } }, "×"));
    beep(true);
  }
  known = new Set(rows.map((r) => r.id));
  first = false;
  clear(box, h("h2", t("worklist") + " · " + t(kind), h("span.count", ` (${rows.length})`)), table(
    [t("requestNo"), t("patient"), t("from"), t("priority"), t("status"), t("due"), t("question"), ""],
    rows.map((r) => h("tr.item", {
      className: "item" + (r.critical ? " critical" : "") + (r.overdue ? " overdue" : ""),
      dataset: { id: r.id, identifier: r.identifier },
    },
    h("td", r.identifier), h("td", patientLabel(r.patient)), h("td", r.requesting_institution),
    h("td", chip(r.priority)),
    h("td", chip(r.status), r.critical ? h("span.chip.critical.bad", t("critical") + (r.critical_reason ? ": " + pick(r.critical_reason_zh || r.critical_reason, r.critical_reason) : "")) : null,
      r.overdue ? chip("overdue", "warn") : null,
      r.performer_id && r.performer_id !== user.id ? h("span.chip.assigned-other", t("otherSpecialist")) : null),
    h("td", { title: fmtTime(r.due_at) }, fmtDue(r.due_at)),
    h("td.text", r.clinical_question),
    h("td.actions",
      r.status === "requested" ? h("button", { type: "button", on: { click: action(async () => {
        await api.post(`/api/v1/requests/${r.id}/accept`);
        refresh();
      }) } }, t("accept")) : null,
      h("a.button.primary", { href: VIEW[kind] ? VIEW[kind](r) : "#" }, t("open")))))));
}
