// The consult reading page of a video-consult request: the request, the patient, the clinical
// question, the owner's tools (accept, hold, reassign), the room, and the consult opinion.
import { api } from "../api.js";
import { listen } from "../events.js";
import { t } from "../i18n.js";
import { chip, clear, fmtTime, frame, h, patientLabel } from "../ui.js";
import { conclusionPanel, errText, ownerBar } from "../conclusion.js";
import { mountReferAction } from "../refer.js";

const requestId = Number(location.pathname.split("/")[2]);
const user = frame("consultOpinion");
const head = h("section.card.wide#consult-head");
const owner = h("section.card#consult-owner");
const opinion = h("section.card.wide#consult-opinion");

if (user) {
  const main = document.getElementById("main");
  clear(main, head, h("div.columns", h("div.col", owner), h("div.col", opinion)));
  mountReferAction(main, { requestId, before: head.nextSibling }); // green channel
  load();
  listen((event) => { if (event.request_id === requestId) load(false); });
}

// Everything; on a live event only the head and the owner's tools (a half-written opinion stays).
async function load(withOpinion = true) {
  let request;
  try {
    request = await api.get(`/api/v1/requests/${requestId}`);
  } catch (err) {
    clear(head, h("p.form-error", errText(err)));
    return;
  }
  const open = ["requested", "accepted", "in_progress"].includes(request.status);
  clear(head, h("div.head-row",
    h("h1", t("consultOpinion") + " · " + request.identifier),
    h("span#consult-patient", patientLabel(request.patient)), h("span.muted", request.requesting_institution),
    chip(request.priority), h("span#consult-status", chip(request.status)),
    open ? h("a.button#open-room", { href: `/room/${request.id}` }, t("openRoom")) : null),
  h("p.muted", t("created") + "：" + fmtTime(request.created_at)),
  request.clinical_question ? h("p#consult-question", h("strong", t("question") + "："), request.clinical_question) : null);
  clear(owner, h("h2", t("assignee")), await ownerBar(request, user, load));
  if (withOpinion || request.status === "completed") {
    clear(opinion, await conclusionPanel(request, user, () => load(false)));
  }
}
