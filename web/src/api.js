// REST and WebSocket client: bearer token kept in sessionStorage (gone when the tab closes).
const TOKEN_KEY = "smc.token";

export class Unauthorized extends Error {}

export const auth = {
  get token() {
    return sessionStorage.getItem(TOKEN_KEY);
  },
  set token(value) {
    if (value) sessionStorage.setItem(TOKEN_KEY, value);
    else sessionStorage.removeItem(TOKEN_KEY);
  },
};

export async function api(path, { method = "GET", body, raw = false } = {}) {
  const headers = { Accept: "application/json" };
  if (auth.token) headers.Authorization = `Bearer ${auth.token}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  if (response.status === 401) {
    auth.token = null;
    throw new Unauthorized((await response.json().catch(() => ({}))).detail || "unauthorized");
  }
  if (!response.ok) {
    const detail = await response.json().catch(() => ({}));
    const message = Array.isArray(detail.detail)
      ? detail.detail.map((d) => `${d.loc?.slice(-1)[0]}: ${d.msg}`).join("; ")
      : detail.detail || response.statusText;
    throw new Error(`${response.status}: ${message}`);
  }
  if (raw) return response;
  return response.status === 204 ? null : response.json();
}

// Reconnecting event stream; authenticates with its first message (browsers cannot set headers).
export function connectStream(onMessage, onState) {
  let socket;
  let closed = false;
  let delay = 500;
  const open = () => {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    socket = new WebSocket(`${scheme}://${location.host}/ws`);
    socket.onopen = () => {
      socket.send(JSON.stringify({ op: "auth", token: auth.token }));
      delay = 500;
    };
    socket.onmessage = (event) => {
      const frame = JSON.parse(event.data);
      for (const message of Array.isArray(frame) ? frame : [frame]) {
        if (message.type === "welcome") onState("live");
        else if (message.type === "error") onState("refused");
        else onMessage(message);
      }
    };
    socket.onclose = () => {
      onState("offline");
      if (!closed && auth.token) setTimeout(open, (delay = Math.min(delay * 2, 10000)));
    };
  };
  open();
  return () => {
    closed = true;
    socket?.close();
  };
}
