// The 18-character resident ID (GB 11643): ISO 7064 MOD 11-2 check character, birth date at
// [6, 14), the 17th digit odd for men. The server checks again; this only helps while typing.
const WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
const CHECK = "10X98765432";

export function checkChar(first17) {
  let sum = 0;
  for (let i = 0; i < 17; i++) sum += Number(first17[i]) * WEIGHTS[i];
  return CHECK[sum % 11];
}

// -> {ok, problem: "ridLen" | "ridCheck" | "ridDate" | null, birthDate: "YYYY-MM-DD", sex: "M" | "F"}
export function checkResidentId(raw) {
  const id = (raw || "").trim().toUpperCase();
  if (!/^\d{17}[\dX]$/.test(id)) return { ok: false, problem: "ridLen" };
  const y = Number(id.slice(6, 10));
  const m = Number(id.slice(10, 12));
  const d = Number(id.slice(12, 14));
  const date = new Date(Date.UTC(y, m - 1, d));
  const valid = date.getUTCFullYear() === y && date.getUTCMonth() === m - 1 && date.getUTCDate() === d;
  if (!valid || y < 1900 || date > new Date()) return { ok: false, problem: "ridDate" };
  if (checkChar(id) !== id[17]) return { ok: false, problem: "ridCheck" };
  const birthDate = `${id.slice(6, 10)}-${id.slice(10, 12)}-${id.slice(12, 14)}`;
  return { ok: true, problem: null, birthDate, sex: Number(id[16]) % 2 === 1 ? "M" : "F", id };
}
