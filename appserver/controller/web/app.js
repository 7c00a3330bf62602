// The appserver web controller: pairs with a host through the relay that serves this page,
// then speaks the Codex app-server protocol (JSON-RPC) to it over the relay's controller
// WebSocket (docs/relay.md, "Controller API"). One file, no build step, no dependencies.
//
// Stream rules (the same as appserver/controller/resume.py): the relay's first frame on
// every socket is relay/stream {streamId, resumed, received: k, hostOnline}; we resend our
// JSON-RPC frames after the k-th, and reconnect with ?stream=ID&received=n (n = JSON-RPC
// frames we received; relay/* frames are not counted). Close 4001: device revoked;
// 4002: stream expired (we start a new stream and re-open the thread); other closes:
// reconnect and resume, with the offline indicator meanwhile.
"use strict";

const STORAGE_KEY = "appserver.controller.v1";
const SUBPROTOCOL = "appserver.controller.v1";
const CLIENT_INFO = { name: "appserver-web", title: "appserver web controller", version: "1" };
const RESEND_FRAMES = 1024;      // frames kept for a resume (limits.CONTROLLER_RESEND_FRAMES)
const RECONNECT_INITIAL = 250;   // ms
const RECONNECT_MAX = 5000;      // ms
const CLOSE_REVOKED = 4001;
const CLOSE_EXPIRED = 4002;
const CLOSE_TOO_SLOW = 4003;

const $ = (id) => document.getElementById(id);

const app = {
  cred: null,          // {device_token, client_id, environment_id, server_name}
  ws: null,
  open: false,         // relay/stream received on the current socket
  stream: null,        // {id, received, sent, unconfirmed: [text]}
  nextId: 1,
  pending: new Map(),  // request id -> {method, params, resolve, reject, frame}
  replay: [],          // requests to issue again on a new stream (never left the page)
  ready: false,        // initialize answered on this stream
  readyWaiters: [],    // resolved once ready (a message typed while connecting waits)
  threadId: null,
  threads: [],
  cards: new Map(),    // server request id -> card element
  agentItems: new Map(), // itemId -> message element
  retryDelay: RECONNECT_INITIAL,
  retryTimer: null,
  everOpened: false,
};

// --- credential ------------------------------------------------------------------------

function loadCredential() {
  try {
    const cred = JSON.parse(localStorage.getItem(STORAGE_KEY) || "null");
    return cred && typeof cred.device_token === "string" ? cred : null;
  } catch (_) {
    return null;
  }
}

function saveCredential(cred) {
  localStorage.setItem(STORAGE_KEY, JSON.stringify(cred));
}

function apiUrl(path) {
  return new URL(path, document.baseURI);
}

async function claim(code) {
  const body = {
    code: code.trim(),
    display_name: deviceName(),
    device_type: /Mobi|Android|iPhone|iPad/.test(navigator.userAgent) ? "phone" : "browser",
    platform: (navigator.userAgentData && navigator.userAgentData.platform) || navigator.platform || "web",
    app_version: "appserver web controller",
  };
  const response = await fetch(apiUrl("api/v1/pair/claim"), {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  let answer = null;
  try { answer = await response.json(); } catch (_) { /* not JSON */ }
  if (!response.ok) {
    const detail = answer && answer.detail ? answer.detail : `HTTP ${response.status}`;
    if (response.status === 429) {
      const wait = response.headers.get("retry-after");
      throw new Error(`Too many attempts; try again${wait ? ` in ${wait} s` : " later"}.`);
    }
    throw new Error(`Pairing failed: ${detail}`);
  }
  if (!answer || typeof answer.device_token !== "string") throw new Error("Pairing failed: bad answer from the relay");
  return {
    device_token: answer.device_token,
    client_id: answer.client_id,
    environment_id: answer.environment_id,
    server_name: answer.server_name || "",
  };
}

function deviceName() {
  const ua = navigator.userAgent;
  const browser = /Edg\//.test(ua) ? "Edge" : /Chrome\//.test(ua) ? "Chrome" : /Firefox\//.test(ua) ? "Firefox" : /Safari\//.test(ua) ? "Safari" : "Browser";
  const os = /Android/.test(ua) ? "Android" : /iPhone|iPad/.test(ua) ? "iOS" : /Mac OS X/.test(ua) ? "macOS" : /Windows/.test(ua) ? "Windows" : /Linux/.test(ua) ? "Linux" : "";
  return os ? `${browser} on ${os}` : browser;
}

async function pairWith(code) {
  const error = $("pair-error");
  error.textContent = "";
  $("pair-code").disabled = true;
  try {
    app.cred = await claim(code);
    saveCredential(app.cred);
    showApp();
    connect();
  } catch (err) {
    error.textContent = err.message;
  } finally {
    $("pair-code").disabled = false;
  }
}

function forget(message) {
  localStorage.removeItem(STORAGE_KEY);
  app.cred = null;
  resetStream();
  const ws = app.ws;
  app.ws = null;
  if (ws) ws.close(1000);
  clearTimeout(app.retryTimer);
  showPair(message || "");
}

// --- views -----------------------------------------------------------------------------

function setStatus(state, text) {
  const status = $("status");
  status.dataset.state = state;
  status.textContent = text;
}

function showPair(message) {
  $("app-view").hidden = true;
  $("forget").hidden = true;
  $("host-name").textContent = "";
  $("pair-view").hidden = false;
  $("pair-error").textContent = message;
  setStatus(message ? "revoked" : "idle", message ? "Not paired" : "");
  $("pair-code").focus();
}

function showApp() {
  $("pair-view").hidden = true;
  $("app-view").hidden = false;
  $("forget").hidden = false;
  $("host-name").textContent = app.cred.server_name;
  $("message").focus();
}

function addMessage(kind, text) {
  const li = document.createElement("li");
  li.className = `msg ${kind}`;
  li.textContent = text;
  $("messages").append(li);
  li.scrollIntoView({ block: "end" });
  return li;
}

function clearMessages() {
  $("messages").replaceChildren();
  app.agentItems.clear();
  app.cards.clear();
}

function renderThreads() {
  const list = $("thread-list");
  list.replaceChildren();
  for (const thread of app.threads) {
    const li = document.createElement("li");
    const button = document.createElement("button");
    button.type = "button";
    button.textContent = thread.name || thread.preview || "(new thread)";
    button.title = button.textContent;
    if (thread.id === app.threadId) button.setAttribute("aria-current", "true");
    button.addEventListener("click", () => openThread(thread.id));
    li.append(button);
    list.append(li);
  }
}

function userText(item) {
  return (item.content || []).filter((c) => c && c.type === "text").map((c) => c.text).join("\n");
}

function renderItem(item, streaming) {
  if (item.type === "userMessage") return addMessage("user", userText(item));
  if (item.type === "agentMessage") {
    const li = addMessage("agent", item.text || "");
    if (streaming) li.classList.add("streaming");
    app.agentItems.set(item.id, li);
    return li;
  }
  return null;
}

// --- approval cards --------------------------------------------------------------------

function approvalCard(request) {
  const params = request.params || {};
  const card = document.createElement("li");
  card.className = "card";
  const title = document.createElement("h2");
  const detail = document.createElement("pre");
  if (request.method === "item/commandExecution/requestApproval") {
    title.textContent = "Run this command?";
    detail.textContent = params.command || "(command not shown)";
    if (params.cwd) detail.title = `in ${params.cwd}`;
  } else {
    title.textContent = "Apply these file changes?";
    detail.textContent = params.reason || params.grantRoot || "(no details given)";
  }
  if (params.threadId && params.threadId !== app.threadId) {
    const other = app.threads.find((t) => t.id === params.threadId);
    title.textContent += ` (thread: ${(other && (other.name || other.preview)) || "another thread"})`;
  }
  const actions = document.createElement("div");
  actions.className = "actions";
  const approve = document.createElement("button");
  approve.type = "button";
  approve.textContent = "Approve";
  const decline = document.createElement("button");
  decline.type = "button";
  decline.className = "decline";
  decline.textContent = "Decline";
  approve.addEventListener("click", () => answerApproval(request.id, "accept"));
  decline.addEventListener("click", () => answerApproval(request.id, "decline"));
  actions.append(approve, decline);
  card.append(title, detail, actions);
  $("messages").append(card);
  card.scrollIntoView({ block: "end" });
  app.cards.set(request.id, card);
}

function settleCard(requestId, outcome) {
  const card = app.cards.get(requestId);
  if (!card) return;
  app.cards.delete(requestId);
  const actions = card.querySelector(".actions");
  if (!actions) return;
  const note = document.createElement("p");
  note.className = "outcome";
  note.textContent = outcome;
  actions.replaceWith(note);
}

function answerApproval(id, decision) {
  sendFrame({ id, result: { decision } });
  settleCard(id, decision === "accept" ? "Approved" : "Declined");
}

// --- JSON-RPC over the stream ----------------------------------------------------------

function resetStream() {
  // The relay lost the stream (or we never had one). Requests never put on a socket are
  // replayed on the next stream once it is initialized; the others may or may not have
  // reached the host, so they fail with a message instead of running twice.
  const wired = app.stream ? app.stream.wired : 0;
  for (const [id, waiter] of app.pending) {
    if (waiter.frame > wired && waiter.method !== "initialize") app.replay.push(waiter);
    else waiter.reject(new Error("the connection to the host was reset; it may not have been delivered"));
    app.pending.delete(id);
  }
  app.stream = { id: null, received: 0, sent: 0, wired: 0, unconfirmed: [] };
  app.open = false;
  app.ready = false;
}

function sendFrame(payload) {
  const text = JSON.stringify(payload);
  const stream = app.stream;
  stream.sent += 1;
  stream.unconfirmed.push(text);
  if (stream.unconfirmed.length > RESEND_FRAMES && app.open) stream.unconfirmed.shift();
  if (app.open && app.ws && app.ws.readyState === WebSocket.OPEN) {
    app.ws.send(text);
    stream.wired = stream.sent;
  }
  return stream.sent;
}

function request(method, params) {
  return new Promise((resolve, reject) => issue({ method, params, resolve, reject }));
}

function issue(waiter) {
  const id = app.nextId++;
  app.pending.set(id, waiter);
  const { method, params } = waiter;
  waiter.frame = sendFrame(params === undefined ? { id, method } : { id, method, params });
}

function notify(method, params) {
  sendFrame(params === undefined ? { method } : { method, params });
}

function wsUrl() {
  const url = apiUrl("api/v1/controller/ws");
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  if (app.stream.id) {
    url.searchParams.set("stream", app.stream.id);
    url.searchParams.set("received", String(app.stream.received));
  }
  return url.toString();
}

function connect() {
  clearTimeout(app.retryTimer);
  if (!app.cred) return;
  if (!app.stream) resetStream();
  let ws;
  try {
    ws = new WebSocket(wsUrl(), [SUBPROTOCOL, `bearer.${app.cred.device_token}`]);
  } catch (err) {
    scheduleReconnect();
    return;
  }
  app.ws = ws;
  let opened = false;
  ws.addEventListener("open", () => { opened = true; });
  ws.addEventListener("message", (event) => {
    if (ws !== app.ws || typeof event.data !== "string") return;
    onFrame(event.data);
  });
  ws.addEventListener("close", (event) => {
    if (ws !== app.ws) return;
    app.ws = null;
    app.open = false;
    onClose(event, opened);
  });
}

function scheduleReconnect() {
  if (!app.cred) return;
  setStatus("offline", "Reconnecting…");
  const delay = app.retryDelay * (0.8 + Math.random() * 0.4);
  app.retryDelay = Math.min(app.retryDelay * 2, RECONNECT_MAX);
  app.retryTimer = setTimeout(connect, delay);
}

async function onClose(event, opened) {
  if (!app.cred) return;
  if (event.code === CLOSE_REVOKED) {
    forget("This device was revoked on the host. Pair again to use it.");
    return;
  }
  if (event.code === CLOSE_EXPIRED || event.code === CLOSE_TOO_SLOW || event.code === 1008) {
    resetStream();  // the relay forgot the stream: start a new one and re-open the thread
    connectSoon();
    return;
  }
  if (!opened && (await credentialRefused())) {
    forget("The relay no longer knows this device (revoked?). Pair again to use it.");
    return;
  }
  scheduleReconnect();
}

function connectSoon() {
  setStatus("offline", "Reconnecting…");
  app.retryTimer = setTimeout(connect, 0);
}

async function credentialRefused() {
  // A browser cannot see the HTTP status of a refused WebSocket upgrade: ask plainly.
  try {
    const response = await fetch(apiUrl("api/v1/controller/ws"), {
      headers: { authorization: `Bearer ${app.cred.device_token}` },
    });
    return response.status === 401 || response.status === 403;
  } catch (_) {
    return false;  // the relay is unreachable: keep trying
  }
}

function onFrame(text) {
  let message;
  try { message = JSON.parse(text); } catch (_) { return; }
  if (!message || typeof message !== "object") return;
  if (typeof message.method === "string" && message.method.startsWith("relay/") && !("id" in message)) {
    onRelay(message.method, message.params || {});
    return;
  }
  app.stream.received += 1;
  if ("method" in message && "id" in message) return onServerRequest(message);
  if ("method" in message) return onNotification(message.method, message.params || {});
  const waiter = app.pending.get(message.id);
  if (!waiter) return;
  app.pending.delete(message.id);
  if (message.error) waiter.reject(new Error(message.error.message || "request failed"));
  else waiter.resolve(message.result);
}

function onRelay(method, params) {
  if (method === "relay/host") {
    setHostOnline(Boolean(params.online));
    return;
  }
  if (method !== "relay/stream") return;
  const stream = app.stream;
  if (stream.id && (params.streamId !== stream.id || !params.resumed)) {
    // The relay could not resume: what we held is gone; start over on this new stream.
    resetStream();
  }
  const accepted = Number(params.received) || 0;
  const oldest = app.stream.sent - app.stream.unconfirmed.length + 1;
  if (accepted + 1 < oldest || accepted > app.stream.sent) {
    resetStream();
    app.ws.close(1000);
    return;
  }
  app.stream.unconfirmed.splice(0, accepted + 1 - oldest);
  const fresh = !app.stream.id;
  app.stream.id = params.streamId;
  app.open = true;
  app.retryDelay = RECONNECT_INITIAL;
  for (const frame of app.stream.unconfirmed) app.ws.send(frame);
  app.stream.wired = app.stream.sent;
  setHostOnline(params.hostOnline !== false);
  if (fresh) start();
}

function setHostOnline(online) {
  $("host-offline").hidden = online;
  if (online) setStatus("online", "Connected");
  else setStatus("host-offline", "Host offline");
}

async function start() {
  try {
    await request("initialize", { clientInfo: CLIENT_INFO, capabilities: { experimentalApi: true } });
    notify("initialized");
    app.ready = true;
    for (const resolve of app.readyWaiters.splice(0)) resolve();
    await refreshThreads();
    if (app.threadId) await openThread(app.threadId, { quiet: true });
    for (const waiter of app.replay.splice(0)) issue(waiter);
  } catch (err) {
    addMessage("system", `Could not start: ${err.message}`);
  }
}

function onServerRequest(message) {
  if (message.method === "item/commandExecution/requestApproval" || message.method === "item/fileChange/requestApproval") {
    approvalCard(message);
    return;
  }
  sendFrame({ id: message.id, error: { code: -32601, message: `${message.method} is not supported by the web controller` } });
}

function onNotification(method, params) {
  if (method === "thread/started" || method === "thread/name/updated") {
    refreshThreads();
    return;
  }
  if (method === "serverRequest/resolved") {
    settleCard(params.requestId, "Answered");
    return;
  }
  if (params.threadId && params.threadId !== app.threadId) return;
  if (method === "item/started") {
    if (params.item && params.item.type === "userMessage") renderItem(params.item, false);
    if (params.item && params.item.type === "agentMessage") renderItem(params.item, true);
  } else if (method === "item/agentMessage/delta") {
    const li = app.agentItems.get(params.itemId);
    if (li) { li.textContent += params.delta; li.scrollIntoView({ block: "end" }); }
  } else if (method === "item/completed") {
    const item = params.item || {};
    const li = app.agentItems.get(item.id);
    if (li && item.type === "agentMessage") { li.textContent = item.text; li.classList.remove("streaming"); }
  } else if (method === "turn/completed") {
    const turn = params.turn || {};
    if (turn.status === "failed" && turn.error) addMessage("system", `Turn failed: ${turn.error.message || "error"}`);
    refreshThreads();
  } else if (method === "error" && params.error) {
    addMessage("system", params.error.message || "error");
  }
}

// --- threads ---------------------------------------------------------------------------

async function refreshThreads() {
  if (!app.ready) return;
  try {
    const result = await request("thread/list", { limit: 50 });
    app.threads = (result && result.data) || [];
    renderThreads();
  } catch (err) {
    addMessage("system", `Could not list threads: ${err.message}`);
  }
}

async function openThread(threadId, options = {}) {
  if (!app.ready) return;
  try {
    const result = await request("thread/resume", { threadId });
    app.threadId = threadId;
    clearMessages();
    for (const turn of (result.thread && result.thread.turns) || []) {
      for (const item of turn.items || []) renderItem(item, turn.status === "inProgress");
    }
    renderThreads();
    if (window.matchMedia("(max-width: 700px)").matches) $("threads-box").open = false;
  } catch (err) {
    if (!options.quiet) addMessage("system", `Could not open the thread: ${err.message}`);
  }
}

async function newThread() {
  const result = await request("thread/start", {});
  app.threadId = result.thread.id;
  clearMessages();
  renderThreads();
  return app.threadId;
}

function whenReady() {
  return app.ready ? Promise.resolve() : new Promise((resolve) => app.readyWaiters.push(resolve));
}

async function sendMessage(text) {
  try {
    await whenReady();
    const threadId = app.threadId || (await newThread());
    await request("turn/start", { threadId, input: [{ type: "text", text, text_elements: [] }] });
  } catch (err) {
    addMessage("system", `Not sent: ${err.message}`);
  }
}

// --- wiring ----------------------------------------------------------------------------

function pairCodeFromLocation() {
  const fragment = new URLSearchParams(location.hash.slice(1));
  const code = fragment.get("pair");
  if (code !== null) history.replaceState(null, "", location.pathname + location.search);
  return code;
}

function main() {
  $("pair-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const code = $("pair-code").value;
    if (code.trim()) pairWith(code);
  });
  $("composer").addEventListener("submit", (event) => {
    event.preventDefault();
    const box = $("message");
    const text = box.value.trim();
    if (!text || !app.cred) return;
    box.value = "";
    sendMessage(text);
  });
  $("message").addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      $("composer").requestSubmit();
    }
  });
  $("new-thread").addEventListener("click", () => newThread().catch((err) => addMessage("system", err.message)));
  $("forget").addEventListener("click", () => forget(""));

  window.addEventListener("hashchange", () => {
    // A pairing link opened in a tab that already shows this page.
    const code = pairCodeFromLocation();
    if (code) {
      if (app.cred) forget("");
      pairWith(code);
    }
  });

  const code = pairCodeFromLocation();
  app.cred = loadCredential();
  if (code) {
    showPair("");
    pairWith(code);
  } else if (app.cred) {
    showApp();
    connect();
  } else {
    showPair("");
  }
}

main();
