// Windows of an ECG's samples from GET /api/v1/ecgs/{id}/window: int16 little-endian, lead
// after lead, described by X-Ecg-* headers; decoded to mV per lead for EcgPaper.setData.
import { getBinary } from "./api.js";

const WINDOW_VALUES = 12 * 500 * 60; // what one window request may carry (the server's bound)
const MAX_WINDOW_S = 120;

// ``ecg`` is the API's ECG object (id, fs, leads); ``leads`` null for all of them. Split into
// several requests by leads when one would carry too many values.
export async function loadWindow(ecg, start, duration, leads) {
  const names = leads || ecg.leads;
  const fs = ecg.fs > 500 ? ecg.fs / Math.floor(ecg.fs / 500) : ecg.fs;
  const perGroup = Math.max(1, Math.floor(WINDOW_VALUES / Math.ceil(duration * fs + 1)));
  const out = { fs: 0, leads: [], samples: [], start_s: start };
  for (let i = 0; i < names.length; i += perGroup) {
    const group = names.slice(i, i + perGroup);
    const { headers, buffer } = await getBinary(`/api/v1/ecgs/${ecg.id}/window`,
      { start, duration: Math.min(MAX_WINDOW_S, duration), leads: group.join(",") });
    const got = (headers.get("X-Ecg-Leads") || "").split(",").map(decodeURIComponent);
    const count = Number(headers.get("X-Ecg-Count"));
    const mv = Number(headers.get("X-Ecg-Scale-Uv")) / 1000;
    if (!count || buffer.byteLength !== got.length * count * 2) throw new Error("bad ECG window");
    const view = new DataView(buffer);
    got.forEach((name, l) => {
      const sig = new Float32Array(count);
      for (let k = 0; k < count; k++) sig[k] = view.getInt16((l * count + k) * 2, true) * mv;
      out.leads.push(name);
      out.samples.push(sig);
    });
    out.fs = Number(headers.get("X-Ecg-Fs"));
    out.start_s = Number(headers.get("X-Ecg-Start")) / out.fs;
  }
  return out;
}
