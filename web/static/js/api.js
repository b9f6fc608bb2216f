// The JSON API. The session is the HttpOnly cookie set at sign-in (scripts never see the token):
// it survives reloads and new tabs. Requests that change state send the CSRF token from the
// readable tc_csrf cookie as X-CSRF-Token. Errors become ApiError with the server's code.
const USER = "tc.user";
const CSRF_COOKIE = "tc_csrf";

export class ApiError extends Error {
  constructor(status, code, message, field, messageZh) {
    super(message || code || `HTTP ${status}`);
    this.status = status;
    this.code = code;
    this.field = field;
    this.message_zh = messageZh;
  }
}

function cookie(name) {
  for (const part of document.cookie.split(";")) {
    const [k, ...v] = part.trim().split("=");
    if (k === name) return decodeURIComponent(v.join("="));
  }
  return null;
}

// The session token is not readable by scripts (HttpOnly cookie); kept for modules that ask.
export function token() {
  return null;
}

export function signedIn() {
  return cookie(CSRF_COOKIE) !== null;
}

export function currentUser() {
  const raw = localStorage.getItem(USER);
  return raw ? JSON.parse(raw) : null;
}

export function saveSession(body) {
  localStorage.setItem(USER, JSON.stringify(body.user));
}

export function clearSession() {
  localStorage.removeItem(USER);
}

function toLogin() {
  const back = location.pathname + location.search;
  location.assign("/login" + (back && back !== "/" ? "?next=" + encodeURIComponent(back) : ""));
}

async function send(method, path, body, isForm) {
  const headers = { Accept: "application/json" };
  const csrf = cookie(CSRF_COOKIE);
  if (csrf && method !== "GET") headers["X-CSRF-Token"] = csrf;
  let payload;
  if (body !== undefined && body !== null) {
    if (isForm) payload = body;
    else {
      headers["Content-Type"] = "application/json";
      payload = JSON.stringify(body);
    }
  }
  let resp;
  try {
    resp = await fetch(path, { method, headers, body: payload, cache: "no-store", credentials: "same-origin" });
  } catch (e) {
    throw new ApiError(0, "network", String(e));
  }
  const type = resp.headers.get("Content-Type") || "";
  const data = type.includes("json") ? await resp.json() : null;
  if (!resp.ok) {
    const err = (data && data.error) || {};
    if (resp.status === 401 && !path.startsWith("/api/v1/auth/login")) {
      clearSession();
      toLogin();
    }
    throw new ApiError(resp.status, err.code, err.message, err.field, err.message_zh);
  }
  return data;
}

export const api = {
  get: (path, query) => send("GET", path + qs(query)),
  post: (path, body) => send("POST", path, body === undefined ? {} : body),
  patch: (path, body) => send("PATCH", path, body),
  put: (path, body) => send("PUT", path, body),
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

// Images and WebSockets are authenticated by the session cookie: no token ever goes into a URL
// (URLs end up in logs and histories). Kept as the identity for modules that still call it.
export function withToken(path) {
  return path;
}

export function requireSession() {
  if (!signedIn() || !currentUser()) {
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
