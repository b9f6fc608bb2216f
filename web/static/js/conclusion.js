// The consult opinion (findings, advice, plan) and the owner's tools (hold, reassign), shared by
// the consult reading page and the room's panel. Server errors are shown in the page language.
import { api } from "./api.js";
import { errorText, pick, t } from "./i18n.js";
import { chip, clear, field, fmtTime, h, toast } from "./ui.js";

export const PLANS = ["treat_locally", "refer", "follow_up"];

// A server error in the page language (a known code), else its message.
export function errText(err) {
  const byField = err && err.code === "invalid_input" && err.field ? "err_field_" + err.field : "";
  if (byField && t(byField) !== byField) return t(byField);
  const key = err && err.code ? "err_" + err.code : "";
  return key && t(key) !== key ? t(key) : errorText(err);
}

// Like ui.action, with errors in the page language.
export function act(fn) {
  return async (ev) => {
    const btn = ev && ev.currentTarget;
    if (ev && ev.preventDefault) ev.preventDefault();
    if (btn) btn.disabled = true;
    try {
      await fn(ev);
    } catch (err) {
      toast(errText(err), "error", 8000);
    } finally {
      if (btn) btn.disabled = false;
    }
  };
}

// The plan of a signed opinion, for reading and printing.
export function planView(data) {
  const plan = data && data.plan;
  if (!plan) return null;
  return h("div.plan#plan-view",
    h("h3", t("plan")),
    h("p", chip(plan.kind), plan.kind === "follow_up" && plan.follow_up_on ? " " + t("followUpOn") + "：" + plan.follow_up_on : "",
      plan.kind === "refer" && plan.department ? " " + t("referTo") + "：" + (data.plan_department_label || plan.department) : ""),
    plan.instructions ? h("p.body#plan-instructions", plan.instructions) : null,
    data.conducted ? h("p.muted", t("conducted_" + data.conducted)) : null);
}

async function countyDepartments() {
  const insts = await api.get("/api/v1/institutions").catch(() => []);
  const county = insts.find((i) => i.level === "county");
  return county ? county.departments || [] : [];
}

// The opinion form of a request, or the signed opinion. `onSigned(report)` after signing.
export async function conclusionPanel(request, user, onSigned) {
  const box = h("div.conclusion#conclusion");
  const versions = await api.get(`/api/v1/requests/${request.id}/reports`).catch(() => []);
  let report = versions.find((r) => r.status === "draft") || versions[versions.length - 1] || null;
  const departments = await countyDepartments();
  const deptName = (code) => {
    const d = departments.find((x) => x.code === code);
    return d ? pick(d.name, d.name_en) : code;
  };
  const draw = () => {
    if (report && report.status !== "draft") {
      const data = { ...report.data, plan_department_label: report.data.plan ? deptName(report.data.plan.department) : "" };
      clear(box, h("h2", t("consultOpinion")),
        h("p.signed#signed-note", chip("signed", "ok"), " ", fmtTime(report.signed_at), " · ", report.signer_name || ""),
        h("h3", t("findings")), h("p.body#opinion-findings", report.findings || "—"),
        h("h3", t("advice")), h("p.body#opinion-advice", report.impression || "—"),
        planView(data),
        h("a.button", { href: `/report/${report.id}/print` }, t("print")));
      return;
    }
    const mine = !request.performer_id || request.performer_id === user.id;
    const data = (report && report.data) || {};
    const plan = data.plan || { kind: "treat_locally", instructions: "" };
    const findings = h("textarea#opinion-findings-input", { name: "findings", rows: 4, disabled: !mine });
    const advice = h("textarea#opinion-advice-input", { name: "impression", rows: 3, disabled: !mine });
    findings.value = report ? report.findings : "";
    advice.value = report ? report.impression : "";
    const kinds = h("div.row.plan-kinds", PLANS.map((k) => h("label.check",
      h("input", { type: "radio", name: "plan-kind", value: k, checked: plan.kind === k, disabled: !mine,
        on: { change: () => showFor(k) } }), t(k))));
    const date = h("input#plan-date", { type: "date", name: "follow_up_on", value: plan.follow_up_on || "", disabled: !mine });
    const dept = h("select#plan-department", { name: "department", disabled: !mine },
      departments.map((d) => h("option", { value: d.code, selected: d.code === (plan.department || "cardiology") }, pick(d.name, d.name_en))));
    const instructions = h("textarea#plan-instructions-input", { name: "instructions", rows: 3, disabled: !mine });
    instructions.value = plan.instructions || "";
    const dateField = field(t("followUpOn"), date);
    const deptField = field(t("referTo"), dept);
    const showFor = (k) => { dateField.hidden = k !== "follow_up"; deptField.hidden = k !== "refer"; };
    showFor(plan.kind);
    const collect = () => {
      const kind = (box.querySelector("input[name=plan-kind]:checked") || {}).value || "treat_locally";
      const p = { kind, instructions: instructions.value.trim() };
      if (kind === "follow_up") p.follow_up_on = date.value;
      if (kind === "refer") p.department = dept.value;
      return { findings: findings.value.trim(), impression: advice.value.trim(), data: { ...data, plan: p } };
    };
    const save = async () => {
      if (report && report.status === "draft") report = await api.patch(`/api/v1/reports/${report.id}`, collect());
      else report = await api.post(`/api/v1/requests/${request.id}/reports`, collect());
      return report;
    };
    clear(box, h("h2", t("consultOpinion")),
      mine ? null : h("p.form-error#not-mine", t("err_not_assignee")),
      field(t("findings"), findings), field(t("advice"), advice),
      h("fieldset.plan", h("legend", t("plan")), kinds, dateField, deptField, field(t("instructions"), instructions)),
      mine ? h("div.toolbar",
        h("button#opinion-save", { type: "button", on: { click: act(async () => { await save(); toast(t("draft") + " ✓", "ok"); }) } }, t("saveDraft")),
        h("button.primary#opinion-sign", { type: "button", on: { click: act(async () => {
          const draft = await save();
          report = await api.post(`/api/v1/reports/${draft.id}/sign`);
          toast(t("signed"), "ok");
          draw();
          if (onSigned) onSigned(report);
        }) } }, t("sign"))) : null);
  };
  draw();
  return box;
}

// The owner's tools: who owns the request, accept, ask the clinic (hold), hand over.
export async function ownerBar(request, user, onChange) {
  const box = h("div.owner-bar#owner-bar");
  const holds = await api.get(`/api/v1/requests/${request.id}/holds`).catch(() => []);
  const mine = request.performer_id === user.id;
  const canHand = mine || (user.department_head && request.performer_id);
  const open = ["accepted", "in_progress", "on_hold"].includes(request.status);
  const question = h("input#hold-question", { name: "question", maxLength: 4000, placeholder: t("holdQuestion") });
  let reassign = null;
  if (canHand && open) {
    const people = await api.get(`/api/v1/requests/${request.id}/colleagues`).catch(() => []);
    const to = h("select#reassign-to", { name: "to_user_id" },
      people.filter((p) => p.id !== request.performer_id).map((p) => h("option", { value: p.id }, p.display_name)));
    const reason = h("input#reassign-reason", { name: "reason", maxLength: 2000, placeholder: t("reason") });
    reassign = h("form.row#reassign-form", { on: { submit: act(async () => {
      if (!reason.value.trim()) throw new Error(t("reason"));
      await api.post(`/api/v1/requests/${request.id}/reassign`, { to_user_id: Number(to.value), reason: reason.value.trim() });
      toast(t("reassign") + " ✓", "ok");
      onChange();
    }) } }, field(t("reassignTo"), to), field(t("reason"), reason), h("button", { type: "submit" }, t("reassign")));
  }
  clear(box,
    h("p", t("assignee") + "：", request.performer_id ? (mine ? t("you") : (request.performer_name || t("otherSpecialist"))) : "—",
      " ", chip(request.status)),
    request.status === "requested" ? h("button.primary#accept", { type: "button", on: { click: act(async () => {
      await api.post(`/api/v1/requests/${request.id}/accept`);
      onChange();
    }) } }, t("accept")) : null,
    holds.length ? h("ul.list#holds", holds.map((x) => h("li",
      h("div", h("strong", t("holdQuestion") + "："), x.question, " ", h("span.muted", fmtTime(x.asked_at))),
      x.answered_at ? h("div", h("strong", t("clinicAnswer") + "："), x.answer, " ", h("span.muted", fmtTime(x.answered_at)))
        : h("div.muted", t("waitingAnswer"))))) : null,
    mine && ["accepted", "in_progress"].includes(request.status) ? h("form.row#hold-form", { on: { submit: act(async () => {
      if (!question.value.trim()) return;
      await api.post(`/api/v1/requests/${request.id}/hold`, { question: question.value.trim() });
      toast(t("on_hold"), "ok");
      onChange();
    }) } }, field(t("holdQuestion"), question), h("button#hold", { type: "submit" }, t("hold"))) : null,
    reassign);
  return box;
}

// For the clinic: the open question on a held request and a form to answer it.
export async function answerCell(request, onDone) {
  const holds = await api.get(`/api/v1/requests/${request.id}/holds`).catch(() => []);
  const open = holds.find((x) => !x.answered_at);
  if (!open) return null;
  const answer = h("input.hold-answer", { name: "answer", maxLength: 4000, placeholder: t("answer") });
  return h("form.row.hold-answer-form", { dataset: { request: request.id }, on: { submit: act(async () => {
    if (!answer.value.trim()) return;
    await api.post(`/api/v1/requests/${request.id}/answer`, { answer: answer.value.trim() });
    toast(t("answer") + " ✓", "ok");
    onDone();
  }) } },
  h("p.hold-question", h("strong", open.asker_name + "："), open.question),
  answer, h("button.primary", { type: "submit" }, t("answer")));
}
