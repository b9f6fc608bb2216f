// The consult room (signaling/PROTOCOL.md): device check, lobby, video tiles, mute, audio only,
// chat, leave/end, and co-viewing of the request's images (shared pointer, slice, window/level).
import { api } from "../api.js";
import { EcgPaper } from "../ecgpaper.js";
import { loadWindow } from "../ecgwindow.js"; // -- long ECG reading --
import { ImageStage, loadSeries } from "../imagestage.js";
import { errorText, t } from "../i18n.js";
import { mountReferAction } from "../refer.js";
import { chip, clear, fmtTime, frame, h, patientLabel, toast } from "../ui.js";
import { conclusionPanel } from "../conclusion.js"; // -- consult: conclusion --

const requestId = Number(location.pathname.split("/")[2]);
const guestToken = takeGuestToken();
const user = guestToken ? guestFrame() : frame("room");
const main = document.getElementById("main");
const state = {
  ws: null, pc: null, local: null, me: null, role: null, slots: 0, ice: [], sentOffer: false, pending: [],
  tiles: new Map(), streams: new Map(), names: new Map(), audioMuted: false, videoMuted: false, audioOnly: false,
  hand: false, resource: "", lastPointer: 0, pointerTimer: 0, applying: false,
  coview: { resource: "", kind: "", pointer: null, drawn: false }, coLabels: new Map(), coQueue: Promise.resolve(),
};
window.__room = state; // inspected by the browser tests

const status = h("span#room-status.chip", "…");
const tiles = h("div.tiles#tiles");
const roster = h("ul.list#roster");
const chatLog = h("div.chat-log#chat-log");
const stage = new ImageStage(coViewSend);
const ecgView = ecgCoView(coViewSend);
stage.el.hidden = true; // until a series is opened
const coList = h("div.toolbar#coview-list");
const coTitle = h("span#coview-title.muted");
const coView = h("section.card#coview", { hidden: true }, h("h2", t("coView"), " ", coTitle), coList, ecgView.el, stage.el);
const opinionBox = h("section.card#room-opinion", { hidden: true }); // -- consult: conclusion --

if (user) deviceCheck().catch((err) => clear(main, h("p.form-error", errorText(err))));

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

// A guest's invitation rides in the URL (no account, no cookie); a signed-in user's socket is
// authenticated by the session cookie.
function wsQuery() {
  return guestToken ? `?token=${encodeURIComponent(guestToken)}` : "";
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
      problem.textContent = t("camera") + ": " + errorText(err);
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
    h("button#opinion-toggle", { type: "button", hidden: true, on: { click: () => toggleOpinion() } }, t("consultOpinion")),
    status);
  clear(main, h("div.viewer",
    h("div.room-main", h("section.card", h("h1", t("room")), controls, tiles), opinionBox, coView),
    h("div", h("section.card", h("h2", t("participants")), roster), h("section.card", h("h2", t("chat")), chatLog, chatForm))));
  if (!user.guest) mountReferAction(document.querySelector(".room-main > section.card"), { requestId }); // green channel
  addTile("me", user.display_name || user.username || t("guest"), state.local, true);
  connect();
}

function connect() {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  const ws = new WebSocket(`${scheme}//${location.host}/api/v1/rooms/${requestId}/ws${wsQuery()}`);
  state.ws = ws;
  ws.onopen = () => send({ type: "join", display_name: user.display_name || user.username, audio_only: state.audioOnly });
  ws.onmessage = (m) => {
    let msg;
    try { msg = JSON.parse(m.data); } catch (e) { return; }
    handle(msg).catch((err) => toast(errorText(err), "error"));
  };
  ws.onerror = () => setStatus(t("roomUnavailable"), "bad");
  ws.onclose = (e) => {
    if (state.pc) state.pc.close();
    if (!state.ended) setStatus(t("offline"), "warn");
    // 1012: the room moved to another server node (PROTOCOL.md §8): join again
    if (e.code === 1012 && !state.ended) setTimeout(connect, 1000);
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
      document.getElementById("opinion-toggle").hidden = !(user.role === "consult_specialist" && msg.role === "member");
      setStatus(roleName(msg.role), "ok");
      await offer();
      if (!user.guest) openCoView();
      break;
    case "answer":
      if (state.pc) await state.pc.setRemoteDescription({ type: "answer", sdp: msg.sdp });
      break;
    case "connected":
      setStatus(`${roleName(state.role)} · ${msg.setup_ms} ms`, "ok");
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
      coViewQueue(() => coViewReceive(msg));
      break;
    case "error":
      toast(t("room." + msg.code), "error");
      if (msg.code === "media_failed" || msg.code === "connect_timeout") await offer();
      break;
    case "bye":
      state.ended = true;
      setStatus(t("room." + msg.reason), "bad");
      if (state.pc) state.pc.close();
      for (const tr of state.local.getTracks()) tr.stop();
      if (user.role === "consult_specialist" && state.role === "member") toggleOpinion(true);
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
    if (pc.connectionState === "failed" && pc === state.pc) setStatus(t("room.media_failed"), "bad");
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
    toast(errorText(err), "error");
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
      `${p.display_name || p.participant_id} · ${roleName(p.role)}`, p.participant_id === state.me ? " ★" : "",
      p.audio_muted ? [" ", chip("muted", "warn")] : null, p.video_muted ? [" ", chip("videoOff")] : null,
      p.audio_only ? [" ", chip("audioOnly")] : null, p.hand_raised ? [" ", chip("raiseHand", "bad")] : null,
      p.in_lobby ? [" ", chip("requested", "warn"), state.role === "host" ? h("button", { type: "button",
        on: { click: () => send({ type: "admit", participant_id: p.participant_id }) } }, t("admit")) : null] : null,
      state.role === "host" && p.participant_id !== state.me && !p.in_lobby ? h("button.link", { type: "button",
        on: { click: () => send({ type: "remove", participant_id: p.participant_id }) } }, " ×") : null)));
}

// --- co-viewing --------------------------------------------------------------------------------

// The patient's ECGs and image series that this user may see; opening one shows it to everyone
// in the room (each participant's own access still applies: the others load it themselves).
// Resources: "ecg/<id>" or "study/<uid>/series/<uid>". What is on screen is mirrored in
// state.coview (and #coview's data attributes) for the browser tests.
async function openCoView() {
  const request = await api.get(`/api/v1/requests/${requestId}`).catch(() => null);
  if (!request) return;
  const others = await api.get("/api/v1/requests", { patient_id: request.patient_id, limit: 50 }).catch(() => []);
  const choices = [];
  for (const r of others) {
    if (r.kind === "ecg_read") {
      const ecgs = await api.get(`/api/v1/requests/${r.id}/ecgs`).catch(() => []);
      for (const e of ecgs) {
        choices.push([`ecg/${e.id}`, `${r.identifier} · ECG #${e.id} · ${e.filename}${e.uploaded_at ? " · " + fmtTime(e.uploaded_at) : ""}`]);
      }
    } else if (r.kind === "imaging_read") {
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
  }
  for (const [resource, label] of choices) state.coLabels.set(resource, label);
  if (state.coview.resource) coTitle.textContent = coViewLabel(state.coview.resource);
  if (!choices.length) return;
  coView.hidden = false;
  clear(coList, choices.map(([resource, label]) => h("button", { type: "button", dataset: { resource },
    on: { click: () => coViewQueue(() => shareResource(resource)) } }, label)));
}

function coViewLabel(resource) {
  if (state.coLabels.has(resource)) return state.coLabels.get(resource);
  const m = /^ecg\/(\d+)$/.exec(resource);
  return m ? `ECG #${m[1]}` : resource.split("/").pop();
}

// Co-view work (opening, applying what others did) runs one step at a time, in arrival order, so
// that a pointer or zoom received while the tracing is still loading is applied once it is there.
function coViewQueue(fn) {
  state.coQueue = state.coQueue.then(fn).catch((err) => toast(t("coView") + ": " + errorText(err), "error"));
  return state.coQueue;
}

// I open a resource for everyone.
async function shareResource(resource) {
  if (!(await openResource(resource))) return;
  coViewSend("open", viewParams());
}

// Show a resource here (mine or someone else's); false when it could not be loaded.
async function openResource(resource) {
  const ecg = /^ecg\/(\d+)$/.exec(resource);
  const img = /^study\/([\d.]+)\/series\/([\d.]+)$/.exec(resource);
  if (!ecg && !img) return false;
  coView.hidden = false;
  state.applying = true;
  try {
    if (ecg) {
      const data = await api.get(`/api/v1/ecgs/${ecg[1]}/samples`).catch(async (err) => {
        // -- long ECG reading: a record too long for one JSON shows its first 10 s --
        if (err.code !== "record_too_long") throw err;
        return loadWindow(await api.get(`/api/v1/ecgs/${ecg[1]}`), 0, 10, null);
      });
      stage.el.hidden = true;
      ecgView.el.hidden = false;
      ecgView.paper.setData(data);
    } else {
      const series = await loadSeries(api, img[1], img[2]);
      ecgView.el.hidden = true;
      stage.el.hidden = false;
      stage.setSeries(series);
    }
  } catch (err) {
    toast(t("coView") + ": " + errorText(err), "error");
    return false;
  } finally {
    state.applying = false;
  }
  state.resource = resource;
  state.coview = { resource, kind: ecg ? "ecg" : "series", pointer: null, drawn: false };
  coTitle.textContent = coViewLabel(resource);
  coView.dataset.resource = resource;
  for (const b of coList.querySelectorAll("button")) b.classList.toggle("current", b.dataset.resource === resource);
  mirror();
  return true;
}

// The view state of what is open, as co-view parameters.
function viewParams() {
  if (state.coview.kind === "ecg") return ecgView.params();
  if (!stage.series) return {};
  const p = { slice: stage.index, zoom: stage.zoom, pan_x: stage.pan[0], pan_y: stage.pan[1] };
  if (stage.window) Object.assign(p, { center: stage.window[0], width: stage.window[1] });
  return p;
}

// Keep state.coview and #coview's data attributes in step with what is on screen.
function mirror(pointer) {
  const v = state.coview;
  if (!v.resource) return;
  if (pointer) v.pointer = pointer;
  if (v.kind === "ecg") {
    const p = ecgView.paper;
    Object.assign(v, { zoom: p.zoom, layout: p.layout, scroll: ecgView.scroll(), drawn: ecgView.drawn() });
  } else {
    Object.assign(v, { slice: stage.index, zoom: stage.zoom, pan: stage.pan.slice(), window: stage.window ? stage.window.slice() : null,
      preset: stage.preset, drawn: stage.img.complete && stage.img.naturalWidth > 0 });
  }
  coView.dataset.zoom = String(v.zoom);
  if (v.window) coView.dataset.window = v.window.map((x) => Math.round(x)).join(",");
  if (v.pointer) coView.dataset.pointer = v.pointer.map((x) => x.toFixed(3)).join(",");
}

function coViewSend(act, params) {
  if (!state.resource || state.applying) return;
  if (act === "pointer") {
    mirror([params.x, params.y]);
    // at most 10 a second, the last one always (a trailing send after a burst)
    const now = Date.now();
    clearTimeout(state.pointerTimer);
    if (now - state.lastPointer < 100) {
      state.pointerTimer = setTimeout(() => coViewSend(act, params), 100 - (now - state.lastPointer));
      return;
    }
    state.lastPointer = now;
  } else {
    mirror();
  }
  const list = Object.entries(params).filter(([, v]) => Number.isFinite(v)).slice(0, 16).map(([name, value]) => ({ name, value }));
  send({ type: "co_view", action: act, resource: state.resource, params: list });
}

async function coViewReceive(msg) {
  // A guest (the patient) has no account to load clinical data with: a 401 from the API would
  // send their tab to the login page, out of the consult. They keep the video.
  if (user.guest) return;
  const params = Object.fromEntries((msg.params || []).map((p) => [p.name, p.value]));
  if (msg.action === "close") {
    coView.hidden = true;
    return;
  }
  if (msg.resource !== state.resource && !(await openResource(msg.resource))) return;
  state.applying = true;
  try {
    if (state.coview.kind === "ecg") ecgView.apply(msg.action, params);
    else stage.apply(msg.action, params);
  } finally {
    state.applying = false;
  }
  mirror(msg.action === "pointer" ? [params.x, params.y] : null);
}

// An ECG tracing in the co-view panel: zoom, layout, scroll position and pointer are shared; the
// pointer is in fractions of the tracing (not of the screen), so it lands on the same beat.
function ecgCoView(onChange) {
  const canvas = h("canvas#coview-ecg-canvas", { "aria-label": "ECG" });
  const pointer = h("div.pointer", { hidden: true });
  const readout = h("output.readout", t("caliperHint"));
  const paper = new EcgPaper(canvas, readout);
  const wrap = h("div.paper-wrap", canvas, pointer);
  const box = h("div.paper-scroll", wrap);
  const view = {
    paper, canvas, box,
    el: h("div#coview-ecg", { hidden: true },
      h("div.toolbar",
        h("span", t("zoom") + ":"),
        [0.5, 1, 1.5, 2, 3].map((z) => h("button", { type: "button", dataset: { zoom: z }, on: { click: () => {
          paper.zoom = z;
          paper.draw();
          view.placePointer();
          onChange("pan_zoom", view.params());
        } } }, "×" + z)),
        h("button#coview-ecg-fit", { type: "button", on: { click: () => { paper.fit(); view.placePointer(); onChange("pan_zoom", view.params()); } } }, "↔"),
        h("span.sep"),
        h("button#coview-ecg-3x4", { type: "button", on: { click: () => { paper.layout = "3x4"; paper.draw(); view.placePointer(); onChange("pan_zoom", view.params()); } } }, "3×4+1"),
        h("button#coview-ecg-12", { type: "button", on: { click: () => { paper.layout = "12x1"; paper.draw(); view.placePointer(); onChange("pan_zoom", view.params()); } } }, "12×1"),
        readout),
      box),
    applyingScroll: null,
    pointerAt: null,
    // the others' pointer, in px of the tracing as it is drawn here (the canvas sits at the
    // wrapper's top left; the wrapper is as wide as the box, so that paper.fit() measures the box)
    placePointer() {
      if (!view.pointerAt) return;
      pointer.hidden = false;
      pointer.style.left = view.pointerAt[0] * canvas.offsetWidth + "px";
      pointer.style.top = view.pointerAt[1] * canvas.offsetHeight + "px";
    },
    params() {
      const [sx, sy] = view.scroll();
      return { zoom: paper.zoom, layout: paper.layout === "12x1" ? 1 : 0, scroll_x: sx, scroll_y: sy };
    },
    // the scroll position as fractions of how far the box can scroll
    scroll() {
      const mx = box.scrollWidth - box.clientWidth;
      const my = box.scrollHeight - box.clientHeight;
      return [mx > 0 ? box.scrollLeft / mx : 0, my > 0 ? box.scrollTop / my : 0];
    },
    drawn() {
      return Boolean(paper.data) && canvas.width > 0 && canvas.height > 0;
    },
    apply(action, p) {
      if (action === "pointer") {
        if (!Number.isFinite(p.x) || !Number.isFinite(p.y)) return;
        view.pointerAt = [p.x, p.y];
        view.placePointer();
        return;
      }
      const layout = p.layout === 1 ? "12x1" : p.layout === 0 ? "3x4" : paper.layout;
      const zoom = Number.isFinite(p.zoom) ? Math.max(0.25, Math.min(8, p.zoom)) : paper.zoom;
      if (layout !== paper.layout || zoom !== paper.zoom) {
        paper.layout = layout;
        paper.zoom = zoom;
        paper.draw();
        view.placePointer();
      }
      if (Number.isFinite(p.scroll_x) || Number.isFinite(p.scroll_y)) {
        const left = Math.round((p.scroll_x || 0) * Math.max(0, box.scrollWidth - box.clientWidth));
        const top = Math.round((p.scroll_y || 0) * Math.max(0, box.scrollHeight - box.clientHeight));
        if (left !== box.scrollLeft || top !== box.scrollTop) {
          view.applyingScroll = [left, top];
          box.scrollTo(left, top);
        }
      }
    },
  };
  wrap.addEventListener("pointermove", (e) => {
    if (!paper.data) return;
    const r = canvas.getBoundingClientRect();
    const x = (e.clientX - r.left) / r.width;
    const y = (e.clientY - r.top) / r.height;
    if (x >= 0 && x <= 1 && y >= 0 && y <= 1) onChange("pointer", { x, y });
  });
  box.addEventListener("scroll", () => {
    // a scroll I was told to make is not news to anyone
    const a = view.applyingScroll;
    if (a && Math.abs(a[0] - box.scrollLeft) <= 1 && Math.abs(a[1] - box.scrollTop) <= 1) {
      view.applyingScroll = null;
      return;
    }
    view.applyingScroll = null;
    clearTimeout(view.scrollTimer);
    view.scrollTimer = setTimeout(() => onChange("pan_zoom", view.params()), 80);
  });
  return view;
}

function roleName(role) {
  return t({ host: "roleHost", member: "roleMember", guest: "roleGuest" }[role] || "roleGuest");
}

// --- the consult opinion (the specialist, during the call and after leaving or the end) --------

async function toggleOpinion(show) {
  opinionBox.hidden = show === undefined ? !opinionBox.hidden : !show;
  if (opinionBox.hidden || opinionBox.dataset.loaded) return;
  opinionBox.dataset.loaded = "1";
  try {
    const request = await api.get(`/api/v1/requests/${requestId}`);
    clear(opinionBox, await conclusionPanel(request, user, null),
      h("a.button#opinion-page", { href: `/consult/${requestId}` }, t("consultPage")));
  } catch (err) {
    delete opinionBox.dataset.loaded;
    clear(opinionBox, h("p.form-error", errorText(err)));
  }
}
