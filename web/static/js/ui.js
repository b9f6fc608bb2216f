// DOM helpers and the page frame: header with who is signed in and where, navigation, language.
import { api, clearSession, currentUser, requireSession, saveSession } from "./api.js";
import { errorText, lang, pick, setLang, t } from "./i18n.js";

// h("div.cls#id", {attrs, on: {click}}, children...)
export function h(spec, attrs, ...children) {
  const m = spec.match(/^([a-z0-9]+)?((?:[.#][\w-]+)*)$/i);
  const el = document.createElement((m && m[1]) || "div");
  if (m && m[2]) {
    for (const part of m[2].match(/[.#][\w-]+/g)) {
      if (part[0] === ".") el.classList.add(part.slice(1));
      else el.id = part.slice(1);
    }
  }
  if (attrs && (typeof attrs !== "object" || attrs instanceof Node || Array.isArray(attrs))) {
    children.unshift(attrs);
    attrs = null;
  }
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "on") for (const [ev, fn] of Object.entries(v)) el.addEventListener(ev, fn);
    else if (k === "dataset") Object.assign(el.dataset, v);
    else if (k in el && k !== "list" && k !== "form") el[k] = v;
    else el.setAttribute(k, v === true ? "" : v);
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

export function clear(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

export const $ = (sel, root = document) => root.querySelector(sel);

const HOME_BY_ROLE = {
  village_doctor: "/clinic", township_doctor: "/clinic",
  ecg_specialist: "/worklist/ecg_read", imaging_specialist: "/worklist/imaging_read",
  consult_specialist: "/worklist/video_consult", lab_technician: "/lab", lab_supervisor: "/lab",
  lab_specialist: "/lab", referral_desk: "/referrals", admin: "/admin", auditor: "/audit",
  duty_desk: "/desk", // -- critical alerts --
  department_desk: "/referrals", // -- referrals --
  supervisor: "/statistics", // -- statistics --
};

export function homeOf(user) {
  return HOME_BY_ROLE[user.role] || "/clinic";
}

function navFor(user) {
  const r = user.role;
  const items = [];
  if (r === "village_doctor" || r === "township_doctor") items.push(["/clinic", t("clinic")]);
  if (r === "ecg_specialist") items.push(["/worklist/ecg_read", t("worklist") + " · " + t("ecg_read")]);
  if (r === "imaging_specialist") items.push(["/worklist/imaging_read", t("worklist") + " · " + t("imaging_read")]);
  if (r === "consult_specialist") items.push(["/worklist/video_consult", t("worklist") + " · " + t("video_consult")]);
  if (r.startsWith("lab_")) items.push(["/lab", t("lab")], ["/worklist/lab_test", t("worklist")]);
  if (isClinic(user)) items.push(["/lab", t("lab")]); // -- ui: the clinic collects and ships specimens
  if (r === "referral_desk" || r === "village_doctor" || r === "township_doctor") items.push(["/referrals", t("referrals")]);
  if (r === "department_desk") items.push(["/referrals", t("departmentDesk")]); // -- referrals --
  if (r === "admin") items.push(["/admin", t("admin")]);
  // -- match: reconciliation --
  if (r === "ecg_specialist" || r === "imaging_specialist" || r === "admin") items.push(["/reconciliation", t("reconciliation")]);
  if (r === "auditor") items.push(["/audit", t("audit")]);
  if (r === "duty_desk") items.push(["/desk", t("dutyDesk")]); // -- critical alerts --
  if (r === "supervisor" || r === "admin") items.push(["/statistics", t("statistics")]); // -- statistics --
  if (isClinic(user) || r === "admin" || r === "supervisor") items.push(["/charges", t("charges")]); // -- charges --
  return items;
}

// Draw the header and return the signed-in user (or null after redirecting to the sign-in page).
export function frame(titleKey) {
  const user = requireSession();
  if (!user) return null;
  refreshMe(user);
  document.title = t(titleKey) + " · " + t("app");
  const top = document.getElementById("top");
  const here = location.pathname;
  clear(top,
    h("a.brand", { href: homeOf(user) }, h("img", { src: iconUrl(), alt: "", width: 24, height: 24 }), h("span", t("app"))),
    h("nav.nav", navFor(user).map(([href, label]) =>
      h("a", { href, className: here === href ? "current" : "" }, label))),
    h("div.who", { id: "who" },
      h("span.user", user.display_name || user.username),
      h("span.inst", pick(user.institution_name, user.institution_name_en)),
      h("span#live.live", { title: t("live") }, "●"),
      h("button.link", { type: "button", id: "lang", lang: lang() === "en" ? "zh-CN" : "en", on: { click: switchLang } }, t("lang")),
      h("button.link", { type: "button", id: "signout", on: { click: signOut } }, t("signOut"))));
  return user;
}

// -- ui: keep the stored profile (time zone, names, role) current without blocking the page
function refreshMe(user) {
  api.get("/api/v1/auth/me").then((me) => {
    if (JSON.stringify(me) !== JSON.stringify(user)) saveSession({ user: me });
  }).catch(() => {});
}

function iconUrl() {
  const link = document.querySelector('link[rel="icon"]');
  return link ? link.getAttribute("href") : "/favicon.ico";
}

function switchLang() {
  setLang(lang() === "en" ? "zh-CN" : "en");
  location.reload();
}

async function signOut() {
  try {
    await api.post("/api/v1/auth/logout");
  } catch (e) {
    // signing out locally is enough when the server is unreachable
  }
  clearSession();
  location.assign("/login");
}

export function setLive(ok) {
  const el = document.getElementById("live");
  if (!el) return;
  el.classList.toggle("off", !ok);
  el.title = ok ? t("live") : t("offline");
}

export function toast(text, kind = "info", ms = 5000) {
  const box = document.getElementById("alerts");
  const el = h("div.toast." + kind, text);
  box.append(el);
  if (ms) setTimeout(() => el.remove(), ms);
  return el;
}

export function showError(err) {
  toast(err && (err.code || err.status) ? errorText(err) : t("error"), "error", 8000);
}

// Run an async action from a button: disable it while running, show errors.
export function action(fn) {
  return async (ev) => {
    const btn = ev && ev.currentTarget;
    if (ev && ev.preventDefault) ev.preventDefault();
    if (btn) btn.disabled = true;
    try {
      await fn(ev);
    } catch (err) {
      showError(err);
    } finally {
      if (btn) btn.disabled = false;
    }
  };
}

// -- ui: one time formatter: local time in the center's time zone, "2026-12-02 14:05" --
export function centerTimeZone() {
  const u = currentUser();
  return (u && u.timezone) || "Asia/Shanghai";
}

const formatters = {};

function partsOf(d, withSeconds) {
  const zone = centerTimeZone();
  const key = zone + (withSeconds ? ":s" : "");
  let f = formatters[key];
  if (!f) {
    const opts = { timeZone: zone, year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", hourCycle: "h23" };
    if (withSeconds) opts.second = "2-digit";
    try {
      f = new Intl.DateTimeFormat("en-CA", opts);
    } catch (e) {
      f = new Intl.DateTimeFormat("en-CA", { ...opts, timeZone: "Asia/Shanghai" });
    }
    formatters[key] = f;
  }
  return Object.fromEntries(f.formatToParts(d).map((p) => [p.type, p.value]));
}

// A moment (ISO string, Date or epoch ms) as people read it: "2026-12-02 14:05" in the center's zone.
export function fmtTime(iso, { seconds = false, dateOnly = false } = {}) {
  if (iso === null || iso === undefined || iso === "") return "";
  const d = iso instanceof Date ? iso : new Date(iso);
  if (Number.isNaN(d.getTime())) return "";
  const p = partsOf(d, seconds);
  const day = `${p.year}-${p.month}-${p.day}`;
  if (dateOnly) return day;
  return `${day} ${p.hour}:${p.minute}` + (seconds ? `:${p.second}` : "");
}

// A wall-clock time of day only ("14:05") for chat lines and the like.
export function fmtClock(iso) {
  const s = fmtTime(iso);
  return s ? s.slice(11) : "";
}

export function isClinic(user) {
  return !!user && (user.role === "village_doctor" || user.role === "township_doctor");
}

// Where the clinic opens what a request holds: the ECG, the images, the lab results (read-only).
export function requestLinks(r) {
  const id = r.request_id || r.id;
  const ident = r.request_identifier || r.identifier;
  if (r.kind === "ecg_read") return h("a.button.open-ecg", { href: `/ecg/${id}` }, t("openEcg"));
  if (r.kind === "imaging_read") return h("a.button.open-images", { href: `/imaging/${id}` }, t("openImages"));
  if (r.kind === "lab_test") return h("a.button.open-results", { href: `/lab?request=${encodeURIComponent(ident)}` }, t("openResults"));
  return null;
}

// The clinic's read-only view of a request's report: the signed version, or "no report yet".
export function readOnlyReport(versions) {
  const done = (versions || []).filter((r) => r.status !== "draft").pop();
  if (!done) return [h("h2", t("report")), h("p.muted#no-report", t("noReportYet"))];
  return [h("h2", t("report"), " ", chip(done.status, "ok")),
    h("h3", t("findings")), h("p.text.report-text#ro-findings", done.findings || "—"),
    h("h3", t("impression")), h("p.text.report-text#ro-impression", done.impression || "—"),
    h("p.signed#signed-note", t("signer"), ": ", done.signer_name || "", " · ", fmtTime(done.signed_at), " ",
      h("a.button", { href: `/report/${done.id}/print` }, t("print")))];
}

export function roleLabel(role) {
  return t("role." + role);
}
// -- end ui --

export function fmtDue(iso) {
  if (!iso) return "";
  const mins = Math.round((new Date(iso) - Date.now()) / 60000);
  const abs = Math.abs(mins);
  const span = abs >= 120 ? Math.round(abs / 60) + (lang() === "en" ? " h" : "小时") : abs + (lang() === "en" ? " min" : "分钟");
  if (mins < 0) return (lang() === "en" ? "late " : "超时") + span;
  return (lang() === "en" ? "in " : "剩余") + span;
}

export function chip(key, extra = "") {
  return h("span.chip." + key + (extra ? "." + extra : ""), t(key));
}

export function field(label, input) {
  return h("label.field", h("span", label), input);
}

export function select(name, options, value) {
  return h("select", { name },
    options.map(([v, label]) => h("option", { value: v, selected: v === value }, label)));
}

export function table(headers, rows, cls = "") {
  // -- ui: each cell carries its column's header, so narrow screens can show rows as cards
  for (const row of rows) {
    if (!(row instanceof Element)) continue;
    [...row.children].forEach((cell, i) => {
      const label = typeof headers[i] === "string" ? headers[i] : "";
      if (label && !cell.dataset.label) cell.dataset.label = label;
    });
  }
  return h("table.grid.cards" + (cls ? "." + cls : ""),
    h("thead", h("tr", headers.map((x) => h("th", x)))),
    h("tbody", rows.length ? rows : h("tr", h("td.empty", { colSpan: headers.length }, t("empty")))));
}

export function formData(form) {
  const out = {};
  for (const [k, v] of new FormData(form).entries()) out[k] = typeof v === "string" ? v.trim() : v;
  return out;
}

export function patientLabel(p) {
  if (!p) return "—";
  const age = p.birth_date ? ageOf(p.birth_date) : "";
  return `${p.name} · ${t(p.sex)}${age !== "" ? " · " + age + (lang() === "en" ? " y" : "岁") : ""}`;
}

export function ageOf(birth) {
  const b = new Date(birth);
  const now = new Date();
  let a = now.getFullYear() - b.getFullYear();
  if (now < new Date(now.getFullYear(), b.getMonth(), b.getDate())) a -= 1;
  return a;
}
