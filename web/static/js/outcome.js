// The reader's call on a report: positive (the exam found disease) or negative, kept as
// data.outcome; the community's positive rates are counted from it (GET /api/v1/statistics).
import { t } from "./i18n.js";
import { field, select } from "./ui.js";

// A select of the call: the saved one, else the suggestion (the machine's reading), else none.
export function outcomeField(saved, suggested, disabled) {
  const choice = select("outcome", [["", t("outcomeNone")], ["positive", t("outcomePositive")], ["negative", t("outcomeNegative")]],
    saved || suggested || "");
  choice.id = "report-outcome";
  choice.disabled = disabled;
  return { element: field(t("outcome"), choice), value: () => choice.value || undefined };
}
