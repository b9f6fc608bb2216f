import { ApiError, api, saveSession } from "../api.js";
import { errorText, lang, setLang, t } from "../i18n.js";
import { clear, h, homeOf } from "../ui.js";

document.title = t("signIn") + " · " + t("app");
clear(document.getElementById("top"),
  h("span.brand", h("span", t("app"))),
  h("div.who", h("button.link", {
    type: "button", id: "lang", lang: lang() === "en" ? "zh-CN" : "en",
    on: { click: () => { setLang(lang() === "en" ? "zh-CN" : "en"); location.reload(); } },
  }, t("lang"))));

const message = h("p.form-error", { id: "login-error", role: "alert" });
const form = h("form.card.login#login-form", { autocomplete: "on" },
  h("h1", t("signIn")),
  h("label.field", h("span", t("username")),
    h("input", { name: "username", id: "username", required: true, autocomplete: "username", autofocus: true })),
  h("label.field", h("span", t("password")),
    h("input", { name: "password", id: "password", type: "password", required: true, autocomplete: "current-password" })),
  message,
  h("button.primary", { type: "submit", id: "login-submit" }, t("signIn")));

// Where to go after signing in: a path on this site only. Browsers read a backslash as a
// slash (so "/" + backslash + "host" is another site): refuse those, then let the URL parser
// decide the origin.
function localPath(next) {
  if (!next || !next.startsWith("/") || /[\\\u0000-\u001f]/.test(next)) return null;
  let url;
  try {
    url = new URL(next, location.origin);
  } catch (e) {
    return null;
  }
  if (url.origin !== location.origin || url.pathname.startsWith("//")) return null;
  return url.pathname + url.search + url.hash;
}

form.addEventListener("submit", async (ev) => {
  ev.preventDefault();
  message.textContent = "";
  const btn = form.querySelector("button[type=submit]");
  btn.disabled = true;
  try {
    const body = await api.post("/api/v1/auth/login", {
      username: form.username.value.trim(), password: form.password.value,
    });
    saveSession(body);
    location.assign(localPath(new URLSearchParams(location.search).get("next")) || homeOf(body.user));
  } catch (err) {
    message.textContent = err instanceof ApiError && err.status === 401 ? t("badLogin") : errorText(err);
  } finally {
    btn.disabled = false;
  }
});

clear(document.getElementById("main"), form);
