// The lab: orders, specimens, result entry (technician), validation and release with flags and
// critical values (supervisor), critical-value acknowledgement; a patient's cumulative results.
import { api } from "../api.js";
import { trendChart } from "../chart.js";
import { beep, listen } from "../events.js";
import { historyCard } from "../history.js";
import { pick, t } from "../i18n.js";
import { action, chip, clear, field, fmtTime, formData, frame, h, select, table, toast } from "../ui.js";

const user = frame("lab");
const county = user && ["lab_technician", "lab_supervisor", "lab_specialist"].includes(user.role);
const supervisor = user && (user.role === "lab_supervisor" || user.role === "lab_specialist");
const ordersBox = h("section.card.wide#lab-orders");
const detailBox = h("section.card.wide#lab-order");
const alertsBox = h("section.card.wide#lab-alerts");
let catalogue = {};
let current = null;
let historyOf = null; // the order whose patient's history is shown below (fetched once per order)

if (user) {
  const m = location.pathname.match(/^\/lab\/patient\/(\d+)/);
  if (m) cumulative(Number(m[1]));
  else {
    clear(document.getElementById("main"), alertsBox, h("div.columns", ordersBox, detailBox));
    init();
  }
}

async function init() {
  const tests = await api.get("/api/v1/lab/tests").catch(() => []);
  catalogue = Object.fromEntries(tests.map((x) => [x.code, x]));
  await refresh();
  const wanted = Number(new URLSearchParams(location.search).get("order"));
  if (wanted) openOrder(wanted);
  const forRequest = new URLSearchParams(location.search).get("request"); // -- ui: from the clinic's request list
  if (forRequest && !wanted) {
    const orders = await api.get("/api/v1/lab/orders", { limit: 100 }).catch(() => []);
    const hit = orders.find((o) => o.request_identifier === forRequest);
    if (hit) openOrder(hit.id);
  }
  listen((event) => {
    const critical = event.type === "critical" || String(event.type).includes("critical");
    if (critical) beep(true);
    if (event.title) toast(pick(event.title, event.title_en), critical ? "error" : "info", critical ? 0 : 6000);
    refresh();
    if (current) openOrder(current);
  });
}

async function refresh() {
  const orders = await api.get("/api/v1/lab/orders", { open: county ? "true" : "", limit: 100 });
  clear(ordersBox, h("h2", t("orders")), table([t("requestNo"), t("tests"), t("priority"), t("status"), ""],
    orders.map((o) => h("tr", { className: o.critical ? "critical" : "", dataset: { id: o.id } },
      h("td", o.request_identifier, h("div.muted", o.placer_number)),
      h("td", o.tests.map((c) => h("div", testName(c)))), h("td", chip(o.priority)),
      h("td", chip(o.status), o.critical ? chip("critical", "bad") : null),
      h("td", h("button.open-order", { type: "button", on: { click: () => openOrder(o.id) } }, t("open")))))));
  const alerts = await api.get("/api/v1/lab/alerts", { open: "true" }).catch(() => []);
  clear(alertsBox, alerts.length ? [h("h2", t("alerts")), table([t("time"), t("summary"), ""],
    alerts.map((a) => h("tr.critical", h("td", fmtTime(a.raised_at)), h("td", a.summary),
      h("td", ackForm(a)))))] : []);
}

function testName(code) {
  const x = catalogue[code];
  return x ? `${pick(x.name, x.name_en)} (${code})` : code;
}

function ackForm(a) {
  const form = h("form.row.ack",
    select("method", [["phone", t("phone")], ["in_app", t("in_app")]], "phone"),
    h("input", { name: "notified_person", placeholder: t("notifiedPerson"), required: true }),
    h("button.primary", { type: "submit" }, t("ack")));
  form.addEventListener("submit", action(async () => {
    const v = formData(form);
    await api.post(`/api/v1/lab/alerts/${a.id}/ack`, { method: v.method, notified_person: v.notified_person, note: "" });
    refresh();
  }));
  return form;
}

async function openOrder(id) {
  current = id;
  const order = await api.get(`/api/v1/lab/orders/${id}`);
  const results = await api.get(`/api/v1/lab/orders/${id}/results`).catch(() => []);
  const versions = order.status === "released"
    ? await api.get(`/api/v1/requests/${order.request_id}/reports`).catch(() => []) : [];
  const signed = versions.filter((r) => r.status !== "draft").pop();
  const codes = order.tests.flatMap((c) => (catalogue[c] && catalogue[c].components.length ? catalogue[c].components : [c]));
  const latest = Object.fromEntries(results.filter((r) => r.status !== "superseded").map((r) => [r.test_code, r]));
  const specimenActions = (s) => {
    const post = (path, body) => action(async () => { await api.post(`/api/v1/lab/specimens/${s.id}/${path}`, body); openOrder(id); refresh(); });
    const out = [];
    if (!county && s.status === "pending") out.push(h("button", { type: "button", on: { click: post("collect", { collected_by: user.display_name }) } }, t("collect")));
    if (!county && s.status === "collected") out.push(h("button", { type: "button", on: { click: post("ship") } }, t("ship")));
    if (county && (s.status === "shipped" || s.status === "collected")) out.push(h("button", { type: "button", on: { click: post("receive") } }, t("receive")));
    if (county && s.status !== "rejected" && s.status !== "pending") {
      const reason = select("reason", ["haemolysed", "insufficient", "unlabelled", "clotted"].map((r) => [r, t(r)]), "haemolysed");
      out.push(reason, h("button", { type: "button", on: { click: action(async () => {
        await api.post(`/api/v1/lab/specimens/${s.id}/reject`, { reason: reason.value, note: "" });
        openOrder(id);
      }) } }, t("reject")));
    }
    return out;
  };
  const entry = h("form.stack#result-entry",
    table([t("test"), t("value"), t("unit"), t("flag"), t("range"), t("status")],
      codes.map((c) => {
        const r = latest[c];
        const x = catalogue[c] || {};
        return h("tr", { className: r && /HH|LL|AA/.test(r.flag) ? "critical" : "", dataset: { code: c } },
          h("td", testName(c)),
          h("td", county && !supervisor ? h("input.value", { name: "v_" + c, value: r ? r.value : "", size: 8 }) : (r ? r.value : "")),
          h("td", r ? r.unit : x.unit || ""), h("td", { className: r && r.flag ? "flag-" + r.flag : "" }, r && r.flag ? t("flag." + r.flag) : ""),
          h("td", r ? r.range_text : ""), h("td", r ? chip(r.status, r.status === "held" ? "warn" : "") : "",
            r && r.hold_reason ? h("div.muted", r.hold_reason) : null,
            supervisor && r && r.status === "held" ? h("button", { type: "button", on: { click: action(async () => {
              const reason = prompt(t("reason"));
              if (reason) { await api.post(`/api/v1/lab/results/${r.id}/discard`, { reason }); openOrder(id); }
            }) } }, "✗") : null));
      })),
    county && !supervisor ? h("button.primary#save-results", { type: "submit" }, t("enterResults")) : null,
    supervisor ? h("button.primary#release", { type: "button", on: { click: action(async () => {
      await api.post(`/api/v1/lab/orders/${id}/release`);
      toast(t("release") + " ✓", "ok");
      openOrder(id);
      refresh();
    }) } }, t("release")) : null);
  entry.addEventListener("submit", action(async () => {
    const v = formData(entry);
    const items = codes.filter((c) => v["v_" + c] && (!latest[c] || latest[c].value !== v["v_" + c]))
      .map((c) => ({ code: c, value: v["v_" + c], unit: (catalogue[c] || {}).unit || "" }));
    if (!items.length) return;
    const out = await api.post(`/api/v1/lab/orders/${id}/results`, { results: items });
    if (out.critical) { beep(true); toast(`${t("alerts")}: ${out.critical}`, "error"); }
    for (const r of out.refused || []) {
      const why = r.reason_code && t("refused." + r.reason_code) !== "refused." + r.reason_code ? t("refused." + r.reason_code) : r.reason;
      toast(`${r.code} ${r.value}: ${why}`, "error", 8000);
    }
    openOrder(id);
    refresh();
  }));
  clear(detailBox,
    h("h2", `${order.request_identifier} · ${order.placer_number}`, " ", chip(order.status), order.critical ? chip("critical", "bad") : null),
    h("p.row", h("a", { href: `/lab/patient/${order.patient_id}` }, t("cumulative")),
      signed ? h("a.button#print-lab", { href: `/report/${signed.id}/print` }, t("print")) : null),
    h("h3", t("specimen")),
    table([t("specimen"), t("status"), t("time"), ""], order.specimens.map((s) => h("tr",
      h("td", s.label, h("div.muted", t(s.specimen_type))), h("td", chip(s.status), s.rejection_reason ? h("div.muted", t(s.rejection_reason)) : null),
      h("td", fmtTime(s.received_at || s.shipped_at || s.collected_at)), h("td.actions", specimenActions(s))))),
    h("h3", t("results")), entry);
  if (historyOf !== id) {
    historyOf = id;
    document.getElementById("history")?.remove();
    document.getElementById("main").append(historyCard(order.patient_id, order.request_id));
  }
}

async function cumulative(patientId) {
  const tests = await api.get("/api/v1/lab/tests").catch(() => []);
  const box = h("div#trend");
  const pick1 = select("code", tests.filter((x) => !x.components.length).map((x) => [x.code, `${pick(x.name, x.name_en)} (${x.code})`]), "718-7");
  const form = h("form.row", field(t("test"), pick1), h("button.primary", { type: "submit" }, t("cumulative")));
  const draw = action(async () => {
    const rows = await api.get(`/api/v1/lab/patients/${patientId}/results`, { code: pick1.value });
    clear(box, trendChart(rows), table([t("time"), t("value"), t("flag"), t("range")],
      rows.map((r) => h("tr", h("td", fmtTime(r.observed_at)), h("td", `${r.value} ${r.unit}`),
        h("td", { className: r.flag ? "flag-" + r.flag : "" }, r.flag ? t("flag." + r.flag) : ""), h("td", r.range_text)))));
  });
  form.addEventListener("submit", draw);
  clear(document.getElementById("main"), h("section.card", h("h1", t("cumulative") + ` · ${t("patient")} #${patientId}`), form, box));
  draw();
}
