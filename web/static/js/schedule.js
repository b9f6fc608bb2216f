// Booking an imaging request on a modality's worklist: the clinic picks the scanner (its own, its
// township's or the county's), the day and the time; the modality then fetches the step with the
// accession number, and the study that arrives links to the request without typing.
import { api } from "./api.js";
import { errorText, pick, t } from "./i18n.js";
import { centerTimeZone, field, fmtTime, formData, h, select, toast } from "./ui.js";

const MODALITIES = ["CT", "DX", "MR", "US", "CR", "MG"];

// A wall-clock day and time in the center's zone as ISO 8601 with that zone's offset.
export function centerIso(date, time) {
  const guess = new Date(`${date}T${time}:00Z`);
  const f = new Intl.DateTimeFormat("en-CA", { timeZone: centerTimeZone(), year: "numeric", month: "2-digit",
    day: "2-digit", hour: "2-digit", minute: "2-digit", hourCycle: "h23" });
  const p = Object.fromEntries(f.formatToParts(guess).map((x) => [x.type, x.value]));
  const offset = Math.round((Date.UTC(+p.year, +p.month - 1, +p.day, +p.hour, +p.minute) - guess.getTime()) / 60000);
  const abs = Math.abs(offset);
  const hhmm = String(Math.floor(abs / 60)).padStart(2, "0") + ":" + String(abs % 60).padStart(2, "0");
  return `${date}T${time}:00${offset < 0 ? "-" : "+"}${hhmm}`;
}

// The scanners the caller may book: for a clinic its own, its township's and the county's.
async function stations() {
  const found = await api.get("/api/v1/imaging/stations");
  return found.map((d) => [d.ae_title, `${d.ae_title} · ${pick(d.institution_name, d.institution_name_en)}`]);
}

// The booking shown in a request's row: the time and scanner, or nothing yet.
export async function bookingOf(requestId) {
  try {
    return await api.get(`/api/v1/requests/${requestId}/schedule`);
  } catch (err) {
    if (err.status === 404) return null;
    throw err;
  }
}

export function bookingText(step) {
  return `${fmtTime(step.start)} · ${step.station_aet}`;
}

// The dialog; resolves with the step booked, or null when closed without booking.
export async function scheduleDialog(request, step, title) {
  const options = await stations();
  const start = step ? fmtTime(step.start) : "";
  const error = h("p.form-error", { role: "alert" });
  const form = h("form.stack.dialog#schedule-form",
    h("h3", t("scheduleExam") + " · " + title),
    field(t("modality"), select("modality", MODALITIES.map((m) => [m, t("mod." + m)]), step ? step.modality : "CT")),
    options.length ? field(t("station"), select("station_aet", options, step ? step.station_aet : options[0][0]))
      : h("p.muted#no-station", t("noStation")),
    h("div.row", field(t("date"), h("input", { name: "date", type: "date", required: true, value: start.slice(0, 10) })),
      field(t("startsAt"), h("input", { name: "time", type: "time", required: true, step: 300, value: start.slice(11, 16) || "09:00" }))),
    field(t("examDescription"), h("input", { name: "description", maxLength: 64, value: step ? step.description : "" })),
    error,
    h("div.row", h("button.primary", { type: "submit", disabled: !options.length }, t("scheduleExam")),
      h("button", { type: "button", on: { click: () => dlg.close() } }, t("cancel"))));
  const dlg = h("dialog", form);
  document.body.append(dlg);
  return new Promise((resolve) => {
    let booked = null;
    dlg.addEventListener("close", () => { dlg.remove(); resolve(booked); });
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      const v = formData(form);
      error.textContent = "";
      try {
        booked = await api.put(`/api/v1/requests/${request.id}/schedule`, { modality: v.modality,
          station_aet: v.station_aet, start: centerIso(v.date, v.time), description: v.description });
        toast(t("bookedAt") + " " + bookingText(booked), "ok");
        dlg.close();
      } catch (err) {
        error.textContent = errorText(err);
      }
    });
    dlg.showModal();
  });
}
