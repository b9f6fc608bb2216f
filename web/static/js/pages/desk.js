// The center's duty desk: the critical alerts sent to it (open ones also as banners on every
// page), with the clinic's phone, and who acknowledged each, when and how.
import { api } from "../api.js";
import { ackLine } from "../alerts.js";
import { listen } from "../events.js";
import { pick, t } from "../i18n.js";
import { clear, fmtTime, frame, h, table } from "../ui.js";

const user = frame("dutyDesk");

async function load() {
  const rows = await api.get("/api/v1/alerts");
  const open = rows.filter((a) => !a.acknowledged_at);
  clear(document.getElementById("main"),
    h("section.card.wide#desk-summary", h("h2", t("dutyDesk")),
      h("p", open.length ? `${t("alertsOpen")}: ${open.length}` : t("alertsNone"))),
    h("section.card.wide#desk-alerts", h("h2", t("alertsRecent")),
      table([t("time"), t("patient"), t("findings"), t("alertClinic"), t("status")],
        rows.map((a) => h("tr", { className: a.acknowledged_at ? "" : "critical", dataset: { alertId: a.id } },
          h("td", fmtTime(a.raised_at)),
          h("td", a.patient_name),
          h("td", pick(a.finding_zh, a.finding)),
          h("td", pick(a.clinic_name, a.clinic_name_en || a.clinic_name), " · ", a.clinic_phone || "—"),
          h("td", ackLine(a)))), "cards")));
}

if (user) {
  load();
  listen((event) => {
    if (String(event.type).startsWith("critical.")) load();
  });
}
