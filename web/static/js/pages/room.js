// The consult room (signaling/PROTOCOL.md): device check, lobby, video tiles, mute, audio only,
// chat, leave/end, and co-viewing of the request's images (shared pointer, slice, window/level).
import { api, token } from "../api.js";
import { ImageStage, loadSeries } from "../imagestage.js";
import { t } from "../i18n.js";
import { chip, clear, fmtTime, frame, h, patientLabel, toast } from "../ui.js";

const requestId = Number(location.pathname.split("/")[2]);
const guestToken = takeGuestToken();
const user = guestToken ? guestFrame() : frame("room");
const main = document.getElementById("main");
const state = {
  ws: null, pc: null, local: null, me: null, role: null, slots: 0, ice: [], sentOffer: false, pending: [],
  tiles: new Map(), streams: new Map(), names: new Map(), audioMuted: false, videoMuted: false, audioOnly: false,
  hand: false, resource: "", lastPointer: 0,
};
window.__room = state; // inspected by the browser tests

const status = h("span#room-status.chip", "…");
const tiles = h("div.tiles#tiles");
const roster = h("ul.list#roster");
const chatLog = h("div.chat-log#chat-log");
const stage = new ImageStage(coViewSend);
const coView = h("section.card#coview", { hidden: true }, h("h2", t("coView")), stage.el);

if (user) deviceCheck().catch((err) => clear(main, h("p.form-error", err.message)));

// A patient invited as a guest opens /room/{id}?guest=TOKEN without an account: the token is kept
// for this tab only and taken out of the address bar.
function takeGuestToken() {
  const key = `tc.guest.${requestId}`;
  const params = new URLSearchParams(location.search);
  const fromUrl = params.get("guest");
  if (fromUrl) {
    sessionStorage.setItem(key, fromUrl);
    history.replaceState(null, "", location.pathname);
  }
  return sessionStorage.getItem(key);
}

function guestFrame() {
  document.title = t("room") + " · " + t("app");
  clear(document.getElementById("top"), h("span.brand", h("span", t("app"))),
    h("div.who", h("span.user", t("guest"))));
  return { guest: true, display_name: "", username: "" };
}

function wsToken() {
  return guestToken || token();
}

// --- 1. device check ---------------------------------------------------------------------------

async function deviceCheck() {
  const request = user.guest ? null : await api.get(`/api/v1/requests/${requestId}`).catch(() => null);
  const preview = h("video#preview", { autoplay: true, muted: true, playsInline: true });
  const meter = h("div.meter", h("div"));
  const audioOnly = h("input#join-audio-only", { type: "checkbox" });
  const problem = h("p.form-error");
  try {
    state.local = await navigator.mediaDevices.getUserMedia({ audio: true, video: { width: 640, height: 480 } });
  } catch (err) {
    try {
      state.local = await navigator.mediaDevices.getUserMedia({ audio: true });
      problem.textContent = t("camera") + ": " + err.message;
    } catch (err2) {
      state.local = new MediaStream();
      problem.textContent = err2.message;
    }
  }
  preview.srcObject = state.local;
  levelMeter(state.local, meter.firstChild);
  clear(main, h("section.card.device-check#device-check",
    h("h1", t("room") + (request ? " · " + request.identifier + " · " + patientLabel(request.patient) : "")),
    h("h2", t("deviceCheck")),
    h("div.tile", preview, h("span.name", user.display_name || user.username || t("guest"))),
    h("p", t("micLevel")), meter, problem,
    h("label.check", audioOnly, t("audioOnly")),
    h("button.primary#join", { type: "button", on: { click: () => join(audioOnly.checked) } }, t("join"))));
}

function levelMeter(stream, bar) {
  if (!stream.getAudioTracks().length) return;
  try {
    const ctx = new AudioContext();
    const analyser = ctx.createAnalyser();
    ctx.createMediaStreamSource(stream).connect(analyser);
    const data = new Uint8Array(analyser.fftSize);
    const tick = () => {
      analyser.getByteTimeDomainData(data);
      let peak = 0;
      for (const v of data) peak = Math.max(peak, Math.abs(v - 128));
      bar.style.width = Math.min(100, (peak / 128) * 200) + "%";
      if (document.body.contains(bar)) requestAnimationFrame(tick);
    };
    tick();
  } catch (e) {
    // no audio processing available: the meter stays empty
  }
}

// --- 2. the room -------------------------------------------------------------------------------

function join(audioOnly) {
  state.audioOnly = audioOnly;
  if (audioOnly) for (const tr of state.local.getVideoTracks()) tr.enabled = false;
  const chatInput = h("input", { name: "text", maxLength: 2000, placeholder: t("chat"), autocomplete: "off" });
  const chatForm = h("form.row#chat-form", chatInput, h("button", { type: "submit" }, t("send")));
  chatForm.addEventListener("submit", (e) => {
    e.preventDefault();
    if (chatInput.value.trim()) send({ type: "chat", text: chatInput.value.trim() });
    chatInput.value = "";
  });
  const controls = h("div.toolbar#room-controls",
    h("button#mute", { type: "button", on: { click: toggleMute } }, t("mute")),
    h("button#video", { type: "button", on: { click: toggleVideo } }, t("videoOff")),
    h("button#audio-only", { type: "button", on: { click: toggleAudioOnly } }, t("audioOnly")),
    h("button#hand", { type: "button", on: { click: (e) => {
      state.hand = !state.hand;
      e.currentTarget.classList.toggle("current", state.hand);
      send({ type: "raise_hand", raised: state.hand });
    } } }, t("raiseHand")),
    h("button#leave", { type: "button", on: { click: () => send({ type: "leave" }) } }, t("leave")),
    h("button#invite", { type: "button", hidden: true, on: { click: invite } }, t("invite")),
    h("button.bad#end", { type: "button", hidden: true, on: { click: () => { if (confirm(t("end") + "?")) send({ type: "end" }); } } }, t("end")),
    status);
  clear(main, h("div.viewer",
    h("div", h("section.card", h("h1", t("room")), controls, tiles), coView),
    h("div", h("section.card", h("h2", t("participants")), roster), h("section.card", h("h2", t("chat")), chatLog, chatForm))));
  addTile("me", user.display_name || user.username || t("guest"), state.local, true);
  connect();
}

function connect() {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  const ws = new WebSocket(`${scheme}//${location.host}/api/v1/rooms/${requestId}/ws?token=${encodeURIComponent(wsToken())}`);
  state.ws = ws;
  ws.onopen = () => send({ type: "join", display_name: user.display_name || user.username, audio_only: state.audioOnly });
  ws.onmessage = (m) => {
    let msg;
    try { msg = JSON.parse(m.data); } catch (e) { return; }
    handle(msg).catch((err) => toast(err.message, "error"));
  };
  ws.onerror = () => setStatus(t("roomUnavailable"), "bad");
  ws.onclose = () => {
    if (state.pc) state.pc.close();
    if (!state.ended) setStatus(t("offline"), "warn");
  };
}

function send(msg) {
  if (state.ws && state.ws.readyState === WebSocket.OPEN) state.ws.send(JSON.stringify(msg));
}

function setStatus(text, cls = "") {
  status.textContent = text;
  status.className = "chip " + cls;
}

async function handle(msg) {
  switch (msg.type) {
    case "lobby":
      setStatus(t("lobby"), "warn");
      break;
    case "joined":
      state.me = msg.participant_id;
      state.role = msg.role;
      state.slots = msg.slots;
      state.ice = (msg.ice_servers || []).map((s) => {
        const out = { urls: s.urls };
        if (s.username) out.username = s.username;
        if (s.credential) out.credential = s.credential;
        return out;
      });
      document.getElementById("end").hidden = msg.role !== "host";
      document.getElementById("invite").hidden = msg.role === "guest";
      setStatus(msg.role, "ok");
      await offer();
      if (!user.guest) openCoView();
      break;
    case "answer":
      if (state.pc) await state.pc.setRemoteDescription({ type: "answer", sdp: msg.sdp });
      break;
    case "connected":
      setStatus(`${state.role} · ${msg.setup_ms} ms`, "ok");
      break;
    case "media_map":
      mapMedia(msg.slots);
      break;
    case "roster":
      drawRoster(msg);
      break;
    case "chat":
      chatLog.append(h("div", h("strong", (state.names.get(msg.participant_id) || msg.participant_id) + ": "), msg.text));
      chatLog.scrollTop = chatLog.scrollHeight;
      break;
    case "co_view":
      coViewReceive(msg);
      break;
    case "error":
      toast(`${msg.code}: ${msg.message}`, "error");
      if (msg.code === "media_failed" || msg.code === "connect_timeout") await offer();
      break;
    case "bye":
      state.ended = true;
      setStatus(msg.reason, "bad");
      if (state.pc) state.pc.close();
      for (const tr of state.local.getTracks()) tr.stop();
      break;
    default:
      break;
  }
}

// --- media -------------------------------------------------------------------------------------

async function offer() {
  if (state.pc) state.pc.close();
  const pc = new RTCPeerConnection({ iceServers: state.ice, bundlePolicy: "max-bundle" });
  state.pc = pc;
  state.sentOffer = false;
  state.pending = [];
  const audio = state.local.getAudioTracks()[0];
  const video = state.local.getVideoTracks()[0];
  if (audio) pc.addTransceiver(audio, { direction: "sendonly", streams: [state.local] });
  if (video) pc.addTransceiver(video, { direction: "sendonly", streams: [state.local] });
  for (let i = 0; i < state.slots; i++) pc.addTransceiver("audio", { direction: "recvonly" });
  for (let i = 0; i < state.slots; i++) pc.addTransceiver("video", { direction: "recvonly" });
  // Offer only Opus and VP8 (H.264 as a fallback): a dozen m-lines with every codec would exceed
  // the protocol's 32 KiB SDP limit, and the server prefers these anyway.
  for (const tr of pc.getTransceivers()) {
    const kind = tr.receiver.track.kind;
    const caps = (RTCRtpReceiver.getCapabilities && RTCRtpReceiver.getCapabilities(kind)) || null;
    if (!caps || !tr.setCodecPreferences) continue;
    const keep = caps.codecs.filter((c) => (kind === "audio"
      ? c.mimeType === "audio/opus"
      : c.mimeType === "video/VP8" || c.mimeType === "video/rtx"
        || (c.mimeType === "video/H264" && /packetization-mode=1/.test(c.sdpFmtpLine || "") && /profile-level-id=42e01f/.test(c.sdpFmtpLine || ""))));
    if (keep.length) tr.setCodecPreferences(keep);
  }
  pc.onicecandidate = (e) => {
    const c = e.candidate;
    const msg = { type: "candidate", candidate: c ? c.candidate : "", sdp_mid: c ? c.sdpMid : null, sdp_mline_index: c ? c.sdpMLineIndex : null };
    if (state.sentOffer) send(msg);
    else state.pending.push(msg);
  };
  pc.onconnectionstatechange = () => {
    if (pc.connectionState === "failed" && pc === state.pc) setStatus("media failed", "bad");
  };
  const desc = await pc.createOffer();
  await pc.setLocalDescription(desc);
  send({ type: "offer", sdp: pc.localDescription.sdp });
  state.sentOffer = true;
  for (const m of state.pending) send(m);
  state.pending = [];
}

function mapMedia(slots) {
  const byMid = new Map(state.pc.getTransceivers().map((tr) => [tr.mid, tr]));
  const streams = new Map();
  for (const slot of slots) {
    if (!slot.participant_id) continue;
    const tr = byMid.get(slot.mid);
    if (!tr) continue;
    if (!streams.has(slot.participant_id)) streams.set(slot.participant_id, []);
    streams.get(slot.participant_id).push(tr.receiver.track);
  }
  for (const [pid, tracks] of streams) {
    const old = state.streams.get(pid);
    const same = old && tracks.length === old.getTracks().length && tracks.every((x) => old.getTracks().includes(x));
    if (!same) {
      const stream = new MediaStream(tracks);
      state.streams.set(pid, stream);
      addTile(pid, state.names.get(pid) || pid, stream, false);
    }
  }
  for (const pid of [...state.tiles.keys()]) {
    if (pid !== "me" && !streams.has(pid)) {
      state.tiles.get(pid).remove();
      state.tiles.delete(pid);
      state.streams.delete(pid);
    }
  }
}

function addTile(pid, name, stream, mine) {
  let tile = state.tiles.get(pid);
  if (!tile) {
    tile = h("div.tile", { dataset: { participant: pid } },
      h("video", { autoplay: true, playsInline: true, muted: mine }), h("span.name", name));
    state.tiles.set(pid, tile);
    tiles.append(tile);
  }
  const video = tile.querySelector("video");
  video.srcObject = stream;
  video.play().catch(() => {});
}

async function invite() {
  const name = prompt(t("guestName"));
  if (!name) return;
  try {
    const inv = await api.post(`/api/v1/requests/${requestId}/room/invitations`, { guest_name: name });
    const link = location.origin + inv.url;
    const box = h("div.card#invitation", h("strong", t("invite") + ": " + name), h("input", { value: link, readOnly: true, size: 60 }),
      h("div.muted", fmtTime(inv.expires_at)));
    tiles.parentElement.append(box);
  } catch (err) {
    toast(err.message, "error");
  }
}

function toggleMute(e) {
  state.audioMuted = !state.audioMuted;
  for (const tr of state.local.getAudioTracks()) tr.enabled = !state.audioMuted;
  e.currentTarget.textContent = state.audioMuted ? t("unmute") : t("mute");
  send({ type: "mute", audio_muted: state.audioMuted, video_muted: state.videoMuted });
}

function toggleVideo(e) {
  state.videoMuted = !state.videoMuted;
  for (const tr of state.local.getVideoTracks()) tr.enabled = !state.videoMuted;
  e.currentTarget.textContent = state.videoMuted ? t("videoOn") : t("videoOff");
  send({ type: "mute", audio_muted: state.audioMuted, video_muted: state.videoMuted });
}

function toggleAudioOnly(e) {
  state.audioOnly = !state.audioOnly;
  for (const tr of state.local.getVideoTracks()) tr.enabled = !state.audioOnly && !state.videoMuted;
  e.currentTarget.classList.toggle("current", state.audioOnly);
  send({ type: "audio_only", enabled: state.audioOnly });
}

function drawRoster(msg) {
  for (const p of msg.participants) {
    state.names.set(p.participant_id, p.display_name || p.participant_id);
    const tile = state.tiles.get(p.participant_id);
    if (tile) tile.querySelector(".name").textContent = p.display_name + (p.audio_muted ? " · " + t("muted") : "") + (p.hand_raised ? " · " + t("raiseHand") : "");
  }
  clear(roster, msg.recording ? h("li", chip("critical", "bad"), " REC") : null,
    msg.participants.map((p) => h("li", { dataset: { participant: p.participant_id } },
      `${p.display_name || p.participant_id} · ${p.role}`, p.participant_id === state.me ? " ★" : "",
      p.audio_muted ? [" ", chip("muted", "warn")] : null, p.video_muted ? [" ", chip("videoOff")] : null,
      p.audio_only ? [" ", chip("audioOnly")] : null, p.hand_raised ? [" ", chip("raiseHand", "bad")] : null,
      p.in_lobby ? [" ", chip("requested", "warn"), state.role === "host" ? h("button", { type: "button",
        on: { click: () => send({ type: "admit", participant_id: p.participant_id }) } }, t("admit")) : null] : null,
      state.role === "host" && p.participant_id !== state.me && !p.in_lobby ? h("button.link", { type: "button",
        on: { click: () => send({ type: "remove", participant_id: p.participant_id }) } }, " ×") : null)));
}

// --- co-viewing --------------------------------------------------------------------------------

// The images of the patient's imaging requests that this user may see; opening one shows it to
// everyone in the room (each participant's own access to the images still applies).
async function openCoView() {
  const request = await api.get(`/api/v1/requests/${requestId}`).catch(() => null);
  if (!request) return;
  const imaging = await api.get("/api/v1/requests", { patient_id: request.patient_id, kind: "imaging_read", limit: 10 }).catch(() => []);
  const choices = [];
  for (const r of imaging) {
    const studies = await api.get(`/api/v1/requests/${r.id}/studies`).catch(() => []);
    for (const st of studies) {
      const series = await api.get(`/dicom-web/studies/${st.study_uid}/series`).catch(() => []);
      for (const se of series) {
        const uid = se["0020000E"].Value[0];
        const desc = (se["0008103E"] && se["0008103E"].Value && se["0008103E"].Value[0]) || "";
        choices.push([`study/${st.study_uid}/series/${uid}`, `${r.identifier} ${st.modalities} ${st.description || ""} ${desc}`]);
      }
    }
  }
  if (!choices.length) return;
  coView.hidden = false;
  const list = h("div.toolbar#coview-series", choices.map(([resource, label]) => h("button", { type: "button", on: { click: async () => {
    await openResource(resource);
    coViewSend("open", {});
    stage.emit("slice");
  } } }, label)));
  coView.insertBefore(list, stage.el);
}

async function openResource(resource) {
  const m = /^study\/([\d.]+)\/series\/([\d.]+)$/.exec(resource);
  if (!m) return;
  state.resource = resource;
  coView.hidden = false;
  state.applying = true;
  try {
    stage.setSeries(await loadSeries(api, m[1], m[2]));
  } catch (err) {
    toast(t("coView") + ": " + err.message, "error");
  } finally {
    state.applying = false;
  }
}

function coViewSend(act, params) {
  if (!state.resource || state.applying) return;
  if (act === "pointer") {
    const now = Date.now();
    if (now - state.lastPointer < 100) return;
    state.lastPointer = now;
  }
  const list = Object.entries(params).filter(([, v]) => Number.isFinite(v)).slice(0, 16).map(([name, value]) => ({ name, value }));
  send({ type: "co_view", action: act, resource: state.resource, params: list });
}

async function coViewReceive(msg) {
  const params = Object.fromEntries((msg.params || []).map((p) => [p.name, p.value]));
  if (msg.action === "close") { coView.hidden = true; return; }
  if (msg.resource !== state.resource) await openResource(msg.resource);
  state.applying = true;
  try {
    stage.apply(msg.action, params);
  } finally {
    state.applying = false;
  }
}

