// The auditor's view: the audit log with filters, and the hash chain's verification.
import { api } from "../api.js";
import { pick, t } from "../i18n.js";
import { action, chip, clear, field, fmtTime, formData, frame, h, select, table } from "../ui.js";

const user = frame("audit");
const PAGE = 100;
let offset = 0;

if (user) {
  const result = h("div#audit-result");
  const chain = h("div#chain-result");
  const form = h("form.row.card#audit-filter",
    field(t("patient") + " ID", h("input", { name: "patient_id", type: "number", min: 1 })),
    field(t("actor"), h("input", { name: "actor" })),
    field(t("action"), h("input", { name: "action", placeholder: "report.sign", title: t("actionHint"), dataset: { raw: "code" } })),
    field(t("outcome"), select("outcome", [["", "—"], ["success", t("success")], ["denied", t("denied")], ["failure", t("failure")]], "")),
    field(t("since"), h("input", { name: "since", type: "datetime-local" })),
    field(t("until"), h("input", { name: "until", type: "datetime-local" })),
    h("button.primary", { type: "submit" }, t("filter")),
    h("button#verify-chain", { type: "button", on: { click: action(async () => {
      const r = await api.get("/api/v1/audit/verify");
      const linked = r.first_bad_seq === null;
      clear(chain,
        h("div", { className: linked ? "alert ok-box" : "alert bad" },
          (linked ? "✓ " + t("chainOk") : "✗ " + t("chainBad") + ` #${r.first_bad_seq}` + pick("", `: ${r.problem}`)),
          ` (${t("chainChecked")} ${r.checked} · ${t("chainUnsealed")} ${r.unsealed})`),
        anchorBox(r));
    }) } }, t("verify")));
  const anchorBox = (r) => {
    if (r.anchor_problems.length) {
      const why = [];
      if (r.anchor_chain_code) why.push(anchorWhy(r));
      if (r.anchor_bad_files) why.push(`${t("anchorForged")} ${r.anchor_bad_files}`);
      return h("div.alert.bad#anchor-result", "✗ " + t("anchorBad") + ": ", why.join(pick("；", "; ")));
    }
    if (!r.anchor) return h("div.alert#anchor-result", "⚠ " + t("anchorNone"));
    return h("div.alert.ok-box#anchor-result", "✓ " + t("anchorOk") + ` #${r.anchor.seq} (${fmtTime(r.anchor.at)})`);
  };
  // The chain against its anchor, in the reader's language (the English detail in English only).
  const anchorWhy = (r) => {
    const seq = r.anchor ? r.anchor.seq : 0;
    const zh = {
      tail_cut: `链尾被截断：锚点记录到第 ${seq} 条，库中只到第 ${r.chain_head_seq} 条`,
      seq_missing: `锚点所记第 ${seq} 条已不在链中`,
      chain_differs: `第 ${seq} 条与锚点不符：此前的记录被改写或替换`,
    }[r.anchor_chain_code] || t("anchorBad");
    return pick(zh, r.anchor_problems.filter((p) => !p.startsWith("anchor file")).join("; "));
  };
  const search = async () => {
    const d = formData(form);
    for (const k of ["since", "until"]) if (d[k]) d[k] = new Date(d[k]).toISOString();
    const rows = await api.get("/api/v1/audit", { ...d, limit: PAGE, offset });
    clear(result, table([t("time"), t("actor"), t("action"), t("patient"), t("object"), t("outcome"), t("client"), t("seq")],
      rows.map((r) => h("tr", { className: r.outcome !== "success" ? "overdue" : "" },
        h("td", fmtTime(r.at)), h("td", r.actor === "system" ? t("system") : r.actor), h("td", h("code", r.action)), h("td", r.patient_id ?? ""),
        h("td", r.object_type ? `${t("obj." + r.object_type)} ${r.object_id}` : ""),
        h("td", chip(r.outcome, r.outcome === "success" ? "ok" : "bad")), h("td.muted", r.client), h("td.muted", r.seq ?? "")))),
    h("div.row",
      h("button", { type: "button", disabled: offset === 0, on: { click: () => { offset = Math.max(0, offset - PAGE); search(); } } }, "‹"),
      h("span.muted", `${offset + 1}–${offset + rows.length}`),
      h("button", { type: "button", disabled: rows.length < PAGE, on: { click: () => { offset += PAGE; search(); } } }, "›")));
  };
  form.addEventListener("submit", action(async () => { offset = 0; await search(); }));
  clear(document.getElementById("main"), h("h1", t("audit")), form, chain, h("section.card.wide", result));
  search();
}
