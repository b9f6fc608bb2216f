// The reconciliation list: studies and ECGs that disagreed with the request they named (or
// matched no patient), with the reason in the page's language; the specialists of the kind (and
// the administrator) file each on the right patient of the sending clinic. Audited server-side.
import { api } from "../api.js";
import { pick, t } from "../i18n.js";
import { action, clear, fmtTime, frame, h, toast } from "../ui.js";

const user = frame("reconciliation");
const SOURCES = {
  imaging_specialist: ["imaging"],
  ecg_specialist: ["ecg", "imaging"], // DICOM ECG waveforms wait in the imaging archive's list
                                      // (the server shows an ECG specialist only those)
  admin: ["imaging", "ecg"],
};

function resolver(kind, item, reload) {
  const input = h("input", { type: "number", min: 1, name: "patient_id", required: true,
    placeholder: t("patient") + " ID", "aria-label": t("patient") + " ID" });
  const path = kind === "ecg" ? `/api/v1/ecgs/reconciliation/${item.id}/resolve`
    : `/api/v1/imaging/reconciliation/${item.id}/resolve`;
  const form = h("form.row.reconcile-form", { dataset: { item: `${kind}-${item.id}` } }, input,
    h("button.primary", { type: "submit" }, t("fileOnPatient")));
  form.addEventListener("submit", action(async (event) => {
    event.preventDefault();
    await api.post(path, { patient_id: Number(input.value) });
    toast(t("filed"), "ok");
    await reload();
  }));
  return form;
}

// One card per item (readable on a 390 px phone as on a desk).
function cards(kind, items, reload) {
  return items.map((i) => {
    const who = kind === "ecg" ? (i.claimed.name || (i.claimed.patient_ids || []).filter(Boolean).join(" / "))
      : `${i.patient_name || ""} ${i.dicom_patient_id || ""}`;
    const accession = (kind === "ecg" ? i.accession : i.accession_number) || "—";
    return h("article.card.reconcile-item", { dataset: { reason: i.reason_code || "", kind } },
      h("p", h("strong", kind === "ecg" ? t("ecg_read") : t("imaging_read")), " · ",
        fmtTime(kind === "ecg" ? i.received_at : i.opened_at)),
      h("p", t("claimedPatient"), ": ", who.trim() || "—"),
      h("p", t("requestNo"), ": ", accession),
      h("p.reason", t("reason"), ": ", h("strong", pick(i.reason_zh, i.reason_en))),
      resolver(kind, i, reload));
  });
}

async function load(box) {
  const kinds = SOURCES[user.role] || [];
  const all = [];
  for (const kind of kinds) {
    const path = kind === "ecg" ? "/api/v1/ecgs/reconciliation" : "/api/v1/imaging/reconciliation";
    const items = await api.get(path);
    all.push(...cards(kind, items, () => load(box)));
  }
  clear(box, all.length ? all : h("p.muted", t("empty")));
}

if (user) {
  const box = h("section#reconcile-list");
  clear(document.getElementById("main"), h("h1", t("reconciliation")),
    h("p.muted", t("reconcileHint")), box);
  load(box);
}
