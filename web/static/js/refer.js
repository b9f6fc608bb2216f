// The green-channel "refer" action for the reading pages (ECG, images, consult room), and the
// center-local time formatting the referral pages share.
//   mountReferAction(container, { requestId, reportId, before }) -> { refresh } | null
// (the action goes at the end of container, or before the child ``before``)
import { ApiError, api, currentUser } from "./api.js";
import { lang, pick, t } from "./i18n.js";
import { chip, clear, field, formData, h, select, showError, toast } from "./ui.js";

const REFERRERS = new Set(["village_doctor", "township_doctor", "ecg_specialist", "imaging_specialist",
  "consult_specialist", "lab_specialist", "lab_supervisor", "lab_technician"]);
const NOT_RECEIVING = new Set(["referral_desk"]);
const OWN_CODES = new Set(["referral_exists", "slot_full", "slot_booked"]);
export const DEFAULT_ZONE = "Asia/Shanghai";

let departmentsOnce = null;

// The county hospital's departments ({id, code, name, name_en}), fetched once per page.
export function countyDepartments() {
  departmentsOnce = departmentsOnce || api.get("/api/v1/institutions").then((insts) => {
    const county = insts.find((i) => i.level === "county");
    return county ? county.departments : [];
  }).catch(() => []);
  return departmentsOnce;
}

// A time for people, in the center's zone (not the browser's): "12月3日 08:00" / "Dec 3, 08:00".
export function centerTime(iso, zone = DEFAULT_ZONE, withYear = false) {
  if (!iso) return "";
  const opts = { timeZone: zone, month: lang() === "en" ? "short" : "long", day: "numeric",
    hour: "2-digit", minute: "2-digit", hourCycle: "h23" };
  if (withYear) opts.year = "numeric";
  return new Intl.DateTimeFormat(lang() === "en" ? "en-GB" : "zh-CN", opts).format(new Date(iso));
}

// The end of a span, shorter when on the same local day: "08:00–12:00".
export function centerSpan(startIso, endIso, zone = DEFAULT_ZONE) {
  const day = (iso) => new Intl.DateTimeFormat("en-CA", { timeZone: zone, dateStyle: "short" }).format(new Date(iso));
  const clock = (iso) => new Intl.DateTimeFormat("en-GB", { timeZone: zone, hour: "2-digit", minute: "2-digit", hourCycle: "h23" }).format(new Date(iso));
  const end = day(startIso) === day(endIso) ? clock(endIso) : centerTime(endIso, zone);
  return centerTime(startIso, zone) + "–" + end;
}

// On a phone a table becomes cards: each cell labelled with its column's header.
export function asCards(tableEl) {
  tableEl.classList.add("ref-cards");
  const heads = [...tableEl.querySelectorAll("thead th")].map((th) => th.textContent);
  for (const tr of tableEl.querySelectorAll("tbody tr")) {
    [...tr.children].forEach((td, i) => {
      if (td.colSpan === 1 && heads[i]) td.dataset.label = heads[i];
    });
  }
  return tableEl;
}

// An error for people: our own codes in the page's language, else the server's message.
export function showReferralError(err) {
  if (err instanceof ApiError && OWN_CODES.has(err.code)) toast(t(err.code), "error", 8000);
  else showError(err);
}

export function mountReferAction(container, { requestId = null, reportId = null, before = null } = {}) {
  const user = currentUser();
  if (!container || !user || !REFERRERS.has(user.role)) return null;
  const box = h("div.refer-action#refer-action");
  container.insertBefore(box, before);
  const refresh = async () => {
    const open = requestId
      ? (await api.get("/api/v1/referrals", { request_id: requestId, open: "true" }).catch(() => []))[0]
      : null;
    if (open) {
      const deps = await countyDepartments();
      const dep = deps.find((d) => d.id === open.to_department_id);
      clear(box, h("p.referred#referred", { dataset: { id: open.id } },
        chip("referred", "warn"), ` #${open.id} → ${dep ? pick(dep.name, dep.name_en) : ""} `, chip(open.status),
        open.slot_place ? h("span.muted", " · " + centerTime(open.slot_at) + " " + open.slot_place) : null));
    } else {
      clear(box, h("button.refer#refer", { type: "button", on: { click: () => openDialog().catch(showReferralError) } }, t("referNow")));
    }
  };
  const latestSigned = async () => {
    if (reportId) return api.get(`/api/v1/reports/${reportId}`).catch(() => ({ id: reportId }));
    if (!requestId) return null;
    const versions = await api.get(`/api/v1/requests/${requestId}/reports`).catch(() => []);
    return versions.filter((r) => r.status !== "draft").pop() || null;
  };
  const openDialog = async () => {
    const [deps, report] = await Promise.all([countyDepartments(), latestSigned()]);
    const summary = h("textarea", { name: "summary", rows: 3, maxLength: 8000 });
    summary.value = report ? [report.impression, report.findings].filter(Boolean).join("\n") : "";
    const form = h("form.stack#refer-form",
      h("h3", t("referNow")),
      field(t("department"), select("department", deps.filter((d) => !NOT_RECEIVING.has(d.code))
        .map((d) => [d.code, pick(d.name, d.name_en)]), "cardiology")),
      field(t("urgency"), select("urgency", ["stat", "urgent", "routine"].map((k) => [k, t(k)]), "stat")),
      field(t("reason"), h("textarea", { name: "reason", rows: 2, required: true, maxLength: 4000 })),
      field(t("clinicalSummary"), summary),
      h("div.row", h("button.primary#refer-send", { type: "submit" }, t("send")),
        h("button", { type: "button", on: { click: () => { dlg.close(); dlg.remove(); } } }, t("cancel"))));
    const dlg = h("dialog#refer-dialog", form);
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const v = formData(form);
      const body = { department: v.department, urgency: v.urgency, reason: v.reason, summary: v.summary };
      if (report && report.id) body.report_id = report.id;
      else body.request_id = requestId;
      try {
        await api.post("/api/v1/referrals", body);
        toast(t("referred"), "ok");
      } catch (err) {
        showReferralError(err);
        if (!(err instanceof ApiError && err.code === "referral_exists")) return;
      }
      dlg.close();
      dlg.remove();
      refresh();
    });
    document.body.append(dlg);
    dlg.showModal();
  };
  refresh();
  return { refresh };
}
