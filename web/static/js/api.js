// The JSON API: bearer token in sessionStorage, errors as ApiError with the server's code.
const KEY = "tc.token";
const USER = "tc.user";

export class ApiError extends Error {
  constructor(status, code, message, field) {
    super(message || code || `HTTP ${status}`);
    this.status = status;
    this.code = code;
    this.field = field;
  }
}

export function token() {
  return sessionStorage.getItem(KEY);
}

export function currentUser() {
  const raw = sessionStorage.getItem(USER);
  return raw ? JSON.parse(raw) : null;
}

export function saveSession(body) {
  sessionStorage.setItem(KEY, body.token);
  sessionStorage.setItem(USER, JSON.stringify(body.user));
}

export function clearSession() {
  sessionStorage.removeItem(KEY);
  sessionStorage.removeItem(USER);
}

function toLogin() {
  const back = location.pathname + location.search;
  location.assign("/login" + (back && back !== "/" ? "?next=" + encodeURIComponent(back) : ""));
}

async function send(method, path, body, isForm) {
  const headers = { Accept: "application/json" };
  const t = token();
  if (t) headers.Authorization = "Bearer " + t;
  let payload;
  if (body !== undefined && body !== null) {
    if (isForm) payload = body;
    else {
      headers["Content-Type"] = "application/json";
      payload = JSON.stringify(body);
    }
  }
  const resp = await fetch(path, { method, headers, body: payload, cache: "no-store" });
  const type = resp.headers.get("Content-Type") || "";
  const data = type.includes("json") ? await resp.json() : null;
  if (!resp.ok) {
    const err = (data && data.error) || {};
    if (resp.status === 401 && !path.startsWith("/api/v1/auth/login")) {
      clearSession();
      toLogin();
    }
    throw new ApiError(resp.status, err.code, err.message, err.field);
  }
  return data;
}

export const api = {
  get: (path, query) => send("GET", path + qs(query)),
  post: (path, body) => send("POST", path, body === undefined ? {} : body),
  patch: (path, body) => send("PATCH", path, body),
  upload: (path, form) => send("POST", path, form, true),
};

export function qs(query) {
  if (!query) return "";
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) {
    if (v !== undefined && v !== null && v !== "") p.set(k, v);
  }
  const s = p.toString();
  return s ? "?" + s : "";
}

// A URL that carries the token as a query parameter (images, WebSockets cannot send headers).
export function withToken(path, name = "access_token") {
  const sep = path.includes("?") ? "&" : "?";
  return path + sep + name + "=" + encodeURIComponent(token() || "");
}

export function requireSession() {
  if (!token() || !currentUser()) {
    toLogin();
    return null;
  }
  return currentUser();
}

// -- long ECG reading: a binary answer (ECG sample windows) with its headers --
export async function getBinary(path, query) {
  const headers = { Accept: "application/octet-stream" };
  const t = token();
  if (t) headers.Authorization = "Bearer " + t;
  const resp = await fetch(path + qs(query), { headers, cache: "no-store", credentials: "same-origin" });
  if (!resp.ok) {
    const type = resp.headers.get("Content-Type") || "";
    const err = (type.includes("json") ? (await resp.json()).error : null) || {};
    throw new ApiError(resp.status, err.code, err.message, err.field);
  }
  return { headers: resp.headers, buffer: await resp.arrayBuffer() };
}
