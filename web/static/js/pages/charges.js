// Charges: the clinic's daily list (record a payment or a waiver) and the monthly settlement
// with the county (totals per item and per payment method, refunds, net; the county closes it).
import { api } from "../api.js";
import { pick, t } from "../i18n.js";
import { action, centerTimeZone, clear, field, fmtTime, frame, h, isClinic, table, toast } from "../ui.js";

const user = frame("charges");
const METHODS = ["cash", "insurance", "online"];
const yuan = (fen) => (fen / 100).toFixed(2);
// Today in the center's time zone (the server counts days and months there).
const centerDate = (d) => new Intl.DateTimeFormat("en-CA", { timeZone: centerTimeZone() }).format(d);

function payForm(charge, reload) {
  const method = h("select", { name: "method" }, METHODS.map((m) => h("option", { value: m }, t("pm_" + m))));
  const reference = h("input", { name: "reference", maxlength: 64, placeholder: t("chReference") });
  const pay = async () => {
    await api.post(`/api/v1/charges/${charge.id}/payment`,
      { method: method.value, amount_fen: charge.amount_fen, reference: reference.value });
    toast(t("chPaidOk"));
    await reload();
  };
  const waive = async () => {
    const reason = prompt(t("chReason"));
    if (!reason) return;
    await api.post(`/api/v1/charges/${charge.id}/waive`, { reason });
    await reload();
  };
  return h("div.row.charge-actions", method, reference,
    h("button.primary", { type: "button", on: { click: action(pay) } }, t("chPay")),
    h("button", { type: "button", on: { click: action(waive) } }, t("chWaive")));
}

async function daily(box, day) {
  const d = await api.get("/api/v1/charges/daily", { day });
  const reload = () => daily(box, day);
  clear(box,
    h("div.figures",
      h("div.figure", h("span.figure-value", yuan(d.charged_fen)), h("span.figure-label", t("chCharged"))),
      h("div.figure", h("span.figure-value", yuan(d.paid_fen)), h("span.figure-label", t("chPaid"))),
      h("div.figure", h("span.figure-value", yuan(d.refunded_fen)), h("span.figure-label", t("chRefunded"))),
      h("div.figure", h("span.figure-value", yuan(d.due_fen)), h("span.figure-label", t("chDue")))),
    table([t("request"), t("patient"), t("chItem"), t("chAmount"), t("chStatus"), ""],
      d.rows.map((r) => h("tr",
        h("td", r.request_identifier, h("br"), h("small", fmtTime(r.charge.created_at))),
        h("td", r.patient_name),
        h("td", r.charge.lines.map((l) => h("div", pick(l.name, l.name_en)))),
        h("td.num", yuan(r.charge.amount_fen)),
        h("td", t("ch_" + r.charge.status), r.charge.method ? h("small", " · " + t("pm_" + r.charge.method)) : null),
        h("td", r.charge.status === "due" && isClinic(user) ? payForm(r.charge, reload) : null))), "charges-table"));
}

async function settlement(box, month, institutionId) {
  const s = await api.get("/api/v1/charges/settlement", { month, institution_id: institutionId || undefined });
  const line = (key, fen) => h("tr", h("td", t(key)), h("td.num", yuan(fen)));
  const close = async () => {
    await api.post("/api/v1/charges/settlement/close", { institution_id: Number(institutionId), month });
    await settlement(box, month, institutionId);
  };
  clear(box,
    h("p", s.closed ? `${t("chClosed")} ${fmtTime(s.closed_at)}` : t("chOpenMonth"),
      " · ", s.balanced ? t("chBalanced") : t("chUnbalanced")),
    table([t("chFigure"), t("chYuan")], [
      line("chCharged", s.charged_fen), line("chPaid", s.paid_fen), line("chRefunded", s.refunded_fen),
      line("chWaived", s.waived_fen), line("chVoided", s.voided_fen), line("chDueOpen", s.due_opening_fen),
      line("chDueClose", s.due_closing_fen), line("chNet", s.net_fen)]),
    h("h3", t("chByItem")),
    table([t("chItem"), t("chCount"), t("chCharged"), t("chRefunded")],
      s.by_item.map((i) => h("tr", h("td", pick(i.name, i.name_en)), h("td.num", String(i.count)),
        h("td.num", yuan(i.charged_fen)), h("td.num", yuan(i.refunded_fen))))),
    h("h3", t("chByMethod")),
    table([t("chMethod"), t("chPaid"), t("chRefunded"), t("chNet")],
      s.by_method.map((m) => h("tr", h("td", t("pm_" + m.method)), h("td.num", yuan(m.paid_fen)),
        h("td.num", yuan(m.refunded_fen)), h("td.num", yuan(m.net_fen))))),
    user.role === "admin" && institutionId && !s.closed
      ? h("button.primary", { type: "button", on: { click: action(close) } }, t("chClose")) : null);
}

if (user) {
  const main = document.getElementById("main");
  const today = new Date();
  const dayBox = h("div#charges-daily"), monthBox = h("div#charges-month");
  const dayInput = h("input", { type: "date", name: "day", value: centerDate(today) });
  const monthInput = h("input", { type: "month", name: "month", value: centerDate(today).slice(0, 7) });
  const institutions = isClinic(user) ? [] : (await api.get("/api/v1/institutions")).filter((i) => i.level !== "county");
  const inst = h("select", { name: "institution_id" }, h("option", { value: "" }, t("stCommunity")),
    institutions.map((i) => h("option", { value: i.id }, pick(i.name, i.name_en))));
  const showMonth = () => settlement(monthBox, monthInput.value, isClinic(user) ? "" : inst.value);
  monthInput.addEventListener("change", action(showMonth));
  inst.addEventListener("change", action(showMonth));
  dayInput.addEventListener("change", action(() => daily(dayBox, dayInput.value)));
  clear(main, h("h1", t("charges")),
    isClinic(user) ? h("section.card.wide", h("h2", t("chDaily")), h("div.row", field(t("chDay"), dayInput)), dayBox) : null,
    h("section.card.wide", h("h2", t("chSettlement")),
      h("div.row", field(t("chMonth"), monthInput), isClinic(user) ? null : field(t("institution"), inst)), monthBox));
  if (isClinic(user)) await action(() => daily(dayBox, dayInput.value))();
  await action(showMonth)();
}
