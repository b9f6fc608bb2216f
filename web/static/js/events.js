// The live events WebSocket (reconnects with back-off) and an alert beep made with WebAudio.
import { setLive } from "./ui.js";

// One socket per page, shared by every listener (the page's module, the critical-alert banner).
const handlers = new Set();
const SESSION_ENDED = 4401; // close code: the sign-in this socket was opened with ended
let socket = null;

export function listen(onEvent) {
  handlers.add(onEvent);
  if (!socket) socket = connectSocket();
  return () => {
    handlers.delete(onEvent);
    if (!handlers.size && socket) {
      socket.stop();
      socket = null;
    }
  };
}

function connectSocket() {
  let delay = 1000;
  let ws = null;
  let stopped = false;
  const connect = () => {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    ws = new WebSocket(`${scheme}//${location.host}/api/v1/events`);
    ws.onopen = () => {
      delay = 1000;
      setLive(true);
    };
    ws.onmessage = (msg) => {
      let event;
      try {
        event = JSON.parse(msg.data);
      } catch (e) {
        return;
      }
      if (event.type === "hello") return;
      for (const fn of [...handlers]) {
        try {
          fn(event);
        } catch (err) {
          console.error(err);
        }
      }
    };
    ws.onclose = (closed) => {
      setLive(false);
      if (stopped) return;
      // the sign-in ended (signed out, password changed, account disabled): no reconnecting;
      // the page's next call answers 401 and goes to the sign-in page
      if (closed.code === SESSION_ENDED) return;
      setTimeout(connect, delay);
      delay = Math.min(delay * 2, 30000);
    };
  };
  connect();
  return {
    stop() {
      stopped = true;
      if (ws) ws.close();
    },
  };
}

let audio = null;

// Two short tones; browsers allow sound only after a user gesture, so failures are silent.
export function beep(urgent = false) {
  try {
    audio = audio || new AudioContext();
    if (audio.state === "suspended") audio.resume();
    const now = audio.currentTime;
    const tones = urgent ? [880, 660, 880] : [660];
    tones.forEach((freq, i) => {
      const osc = audio.createOscillator();
      const gain = audio.createGain();
      osc.type = "sine";
      osc.frequency.value = freq;
      const t0 = now + i * 0.22;
      gain.gain.setValueAtTime(0.0001, t0);
      gain.gain.exponentialRampToValueAtTime(0.3, t0 + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, t0 + 0.18);
      osc.connect(gain).connect(audio.destination);
      osc.start(t0);
      osc.stop(t0 + 0.2);
    });
  } catch (e) {
    // no audio device: the visible alert is enough
  }
}

// Unlock audio on the first click anywhere on the page.
document.addEventListener("click", () => {
  try {
    audio = audio || new AudioContext();
    if (audio.state === "suspended") audio.resume();
  } catch (e) {
    // ignore
  }
}, { once: true });
