// The entreactive example page: plain JavaScript, no build step.
//
// It talks to the JSON API (DESIGN.md §6) with fetch and listens to the
// Socket.IO "reactive" events that the server pushes after each commit:
// notifications reach every logged-in user, a new message reaches its
// recipient, and edits and deletes reach the members who joined the room
// conversation_C.
"use strict";

(() => {
  const $ = (sel) => document.querySelector(sel);
  const SESSION_KEY = "entreactive.userId"; // per tab: two tabs, two users

  const state = {
    userId: null, // number
    token: null,
    authed: false, // the socket is authenticated as userId
    rooms: new Set(), // rooms this socket is known to be in
    conversations: new Map(), // id -> {id, member_ids}
    unread: new Map(), // conversation id -> count
    open: null, // id of the open conversation
    messages: new Map(), // id -> message row of the open conversation
    notifications: new Map(), // id -> notification row
  };

  // ---- errors and status ------------------------------------------------

  let errorTimer = null;
  function showError(msg) {
    const el = $("#error");
    el.textContent = msg;
    el.hidden = false;
    clearTimeout(errorTimer);
    errorTimer = setTimeout(() => { el.hidden = true; }, 8000);
  }

  // renderStatus shows the connection's state; text, while disconnected,
  // says what happens next ("reconnecting…"); offline marks a state the
  // client will not leave by itself.
  function renderStatus(text, offline) {
    const el = $("#status");
    let label;
    $("#reconnect").hidden = true;
    if (typeof io !== "function") {
      el.dataset.state = "offline";
      label = "No Socket.IO client";
    } else if (!socket.connected) {
      el.dataset.state = text && !offline ? "connecting" : "offline";
      label = text || "Disconnected";
      $("#reconnect").hidden = !offline;
    } else {
      el.dataset.state = "online";
      const transport = socket.io.engine ? socket.io.engine.transport.name : "?";
      const who = state.authed ? `user ${state.userId}` : "guest";
      const rooms = ["all", ...(state.authed ? [...state.rooms] : ["guests"])];
      label = `Connected (${transport}) · ${who} · rooms: ${rooms.join(", ")}`;
    }
    $("#status-text").textContent = label;
  }

  // ---- HTTP API ---------------------------------------------------------

  async function api(method, path, body, retried) {
    const headers = {};
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (state.token) headers.Authorization = "Bearer " + state.token;
    const res = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (res.status === 204) return null;
    const data = await res.json().catch(() => ({}));
    if (res.status === 401 && state.userId && !retried) {
      // Expired token or a restarted server: log in again once and retry.
      await login(state.userId, { quiet: true });
      return api(method, path, body, true);
    }
    if (!res.ok) {
      const err = new Error(data.error || `${res.status} ${res.statusText}`);
      err.status = res.status;
      throw err;
    }
    return data;
  }

  // ---- socket -----------------------------------------------------------

  const socket = typeof io === "function" ? io({ reconnectionDelayMax: 3000 }) : null;

  async function authSocket() {
    if (!socket || !socket.connected || !state.token) return;
    let res = await socket.timeout(10000).emitWithAck("auth", state.token).catch(() => null);
    if (!res || !res.success) {
      // The server may have restarted with a new secret: get a new token.
      await login(state.userId, { quiet: true, noSocket: true });
      res = await socket.timeout(10000).emitWithAck("auth", state.token).catch(() => null);
    }
    if (!res || !res.success) {
      showError("The server refused this tab's token: " + ((res && res.error) || "no answer"));
      return;
    }
    state.authed = true;
    state.rooms = new Set(["users", `user_${state.userId}`]);
    renderStatus();
    for (const id of state.conversations.keys()) await joinRoom(id);
  }

  async function joinRoom(convId) {
    const room = `conversation_${convId}`;
    if (!socket || !state.authed || state.rooms.has(room)) return;
    const res = await socket.timeout(10000).emitWithAck("join", room).catch(() => null);
    if (res && res.success) {
      state.rooms.add(room);
    } else {
      showError(`Could not join ${room}: ${(res && res.error) || "no answer"}`);
    }
    renderStatus();
  }

  if (socket) {
    socket.on("connect", () => {
      renderStatus();
      socket.io.engine.once("upgrade", () => renderStatus());
      if (state.token) authSocket().catch((e) => showError(e.message));
    });
    socket.on("disconnect", (reason) => {
      state.authed = false;
      state.rooms.clear();
      if (reason === "io server disconnect") {
        // The server let this socket go on purpose (an operator's kick):
        // socket.io-client does not retry that, so neither do we by
        // ourselves. A restart or a network failure is a "transport
        // close" or "ping timeout", which the client retries on its own.
        renderStatus("Disconnected by the server", true);
      } else {
        renderStatus("Disconnected, reconnecting…");
      }
    });
    $("#reconnect").addEventListener("click", () => {
      renderStatus("Reconnecting…");
      socket.connect();
    });
    socket.on("connect_error", () => renderStatus("Cannot reach the server, retrying…"));
    socket.on("deauthenticated", (p) => {
      state.authed = false;
      state.rooms.clear();
      renderStatus();
      if (state.userId && p && p.reason === "expired") {
        login(state.userId, { quiet: true }).catch((e) => showError(e.message));
      }
    });
    socket.on("reactive", (ev) => onReactive(ev).catch((e) => showError(e.message)));
  } else {
    showError("The Socket.IO client bundle (/socket.io/socket.io.js) did not load. " +
      "Start the app with `bash example/run.sh`, which installs it.");
  }

  // ---- live events ------------------------------------------------------

  async function onReactive(ev) {
    if (!ev || !ev.data) return;
    if (ev.model === "Notification" && ev.action === "create") {
      addNotification(ev.data, true);
      return;
    }
    if (ev.model !== "Message") return;
    const m = ev.data;
    const convId = m.conversation_id;
    switch (ev.action) {
      case "create":
        if (!state.conversations.has(convId)) await loadConversations();
        if (state.open === null) {
          await openConversation(convId);
        } else if (state.open === convId) {
          upsertMessage(m, true);
        } else {
          state.unread.set(convId, (state.unread.get(convId) || 0) + 1);
          renderConversations();
        }
        break;
      case "update":
        if (state.open === convId) upsertMessage(m, true);
        break;
      case "delete":
        if (state.open === convId) removeMessage(ev.id ?? m.id);
        break;
    }
  }

  // ---- login ------------------------------------------------------------

  async function login(userId, opts = {}) {
    const res = await fetch("/api/login", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ user_id: userId }),
    });
    const data = await res.json().catch(() => ({}));
    if (!res.ok) throw new Error(data.error || `login failed (${res.status})`);
    state.token = data.token;
    state.userId = userId;
    sessionStorage.setItem(SESSION_KEY, String(userId));
    if (opts.quiet) {
      if (!opts.noSocket) await authSocket();
      return;
    }
    $("#me-id").textContent = `user ${userId}`;
    $("#login-panel").hidden = true;
    $("#app-panel").hidden = false;
    document.title = `user ${userId} · entreactive`;
    await Promise.all([loadConversations(), loadNotifications()]);
    await authSocket();
  }

  function logout() {
    if (socket && socket.connected) socket.emit("deauth");
    sessionStorage.removeItem(SESSION_KEY);
    Object.assign(state, { userId: null, token: null, authed: false, open: null });
    state.rooms.clear();
    state.conversations.clear();
    state.unread.clear();
    state.messages.clear();
    state.notifications.clear();
    $("#conv-list").replaceChildren();
    $("#notifications").replaceChildren();
    $("#messages").replaceChildren();
    $("#composer").hidden = true;
    $("#chat-title").textContent = "No conversation open";
    $("#app-panel").hidden = true;
    $("#login-panel").hidden = false;
    document.title = "entreactive · live chat demo";
    renderStatus();
  }

  // ---- notifications ----------------------------------------------------

  async function loadNotifications() {
    const rows = await api("GET", "/api/notifications");
    state.notifications.clear();
    $("#notifications").replaceChildren();
    for (const n of rows.reverse()) addNotification(n, false);
  }

  function addNotification(n, live) {
    if (state.notifications.has(n.id)) return;
    state.notifications.set(n.id, n);
    const li = document.createElement("li");
    li.dataset.id = n.id;
    const time = document.createElement("time");
    time.dateTime = n.created_at;
    time.textContent = formatTime(n.created_at);
    const text = document.createElement("span");
    text.className = "text";
    text.textContent = n.message;
    li.append(time, text);
    if (live) li.classList.add("flash");
    $("#notifications").prepend(li);
    $("#notifications-empty").hidden = true;
  }

  // ---- conversations ----------------------------------------------------

  function otherMembers(c) {
    return c.member_ids.filter((id) => id !== state.userId);
  }

  function conversationName(c) {
    const others = otherMembers(c);
    return others.length ? `with user ${others.join(", ")}` : "notes to self";
  }

  async function loadConversations() {
    const rows = await api("GET", "/api/conversations");
    state.conversations = new Map(rows.map((c) => [c.id, c]));
    renderConversations();
    for (const id of state.conversations.keys()) await joinRoom(id);
  }

  function renderConversations() {
    const list = $("#conv-list");
    list.replaceChildren();
    for (const c of state.conversations.values()) {
      const li = document.createElement("li");
      li.dataset.id = c.id;
      li.classList.toggle("active", c.id === state.open);
      const name = document.createElement("span");
      name.textContent = `#${c.id} ${conversationName(c)}`;
      li.append(name);
      const unread = state.unread.get(c.id);
      if (unread) {
        const badge = document.createElement("span");
        badge.className = "badge";
        badge.textContent = unread;
        li.append(badge);
      }
      li.addEventListener("click", () => openConversation(c.id).catch((e) => showError(e.message)));
      list.append(li);
    }
    $("#conv-empty").hidden = state.conversations.size > 0;
  }

  async function openWith(peerId) {
    const wanted = [...new Set([state.userId, peerId])].sort((a, b) => a - b);
    for (const c of state.conversations.values()) {
      const have = [...c.member_ids].sort((a, b) => a - b);
      if (have.length === wanted.length && have.every((id, i) => id === wanted[i])) {
        return openConversation(c.id);
      }
    }
    const res = await api("POST", "/api/conversations", { member_ids: [peerId] });
    state.conversations = new Map([[res.id, { id: res.id, member_ids: wanted }], ...state.conversations]);
    renderConversations();
    await joinRoom(res.id);
    return openConversation(res.id);
  }

  async function openConversation(id) {
    const c = state.conversations.get(id);
    if (!c) return;
    state.open = id;
    state.unread.delete(id);
    renderConversations();
    $("#chat-title").textContent = `Conversation #${id} ${conversationName(c)}`;
    const sel = $("#recipient");
    sel.replaceChildren();
    const others = otherMembers(c);
    for (const uid of others.length ? others : [state.userId]) {
      const opt = document.createElement("option");
      opt.value = uid;
      opt.textContent = `user ${uid}`;
      sel.append(opt);
    }
    $("#composer").hidden = false;
    state.messages.clear();
    $("#messages").replaceChildren();
    await joinRoom(id);
    const rows = await api("GET", `/api/messages?conversation_id=${id}`);
    if (state.open !== id) return;
    for (const m of rows) upsertMessage(m, false);
    $("#text").focus();
  }

  // ---- messages ---------------------------------------------------------

  function upsertMessage(m, live) {
    if (m.conversation_id !== state.open) return;
    state.messages.set(m.id, m);
    const list = $("#messages");
    let li = list.querySelector(`li[data-id="${m.id}"]`);
    const fresh = !li;
    if (fresh) {
      li = document.createElement("li");
      li.dataset.id = m.id;
    }
    renderMessage(li, m);
    if (live) {
      li.classList.remove("flash");
      void li.offsetWidth; // restart the animation
      li.classList.add("flash");
    }
    if (fresh) {
      // Keep the list in id order whatever the arrival order.
      const next = [...list.children].find((el) => Number(el.dataset.id) > m.id);
      list.insertBefore(li, next || null);
      list.scrollTop = list.scrollHeight;
    }
  }

  function renderMessage(li, m) {
    const mine = m.sender_id === state.userId;
    li.className = "message" + (mine ? " mine" : "");
    const bubble = document.createElement("div");
    bubble.className = "bubble text";
    bubble.textContent = m.text;
    const meta = document.createElement("div");
    meta.className = "meta";
    const edited = Date.parse(m.updated_at) - Date.parse(m.created_at) > 1000;
    meta.textContent = `${mine ? "you" : "user " + m.sender_id} → ${m.recipient_id === state.userId ? "you" : "user " + m.recipient_id}` +
      ` · ${formatTime(m.created_at)}${edited ? " · edited" : ""}`;
    li.replaceChildren(bubble, meta);
    if (mine) {
      const edit = button("Edit", "edit-btn", () => startEdit(li, m));
      const del = button("Delete", "delete-btn", () => deleteMessage(m.id).catch((e) => showError(e.message)));
      meta.append(" ", edit, del);
    }
  }

  function button(label, cls, onClick) {
    const b = document.createElement("button");
    b.type = "button";
    b.className = "link " + cls;
    b.textContent = label;
    b.addEventListener("click", onClick);
    return b;
  }

  function startEdit(li, m) {
    const form = document.createElement("form");
    form.className = "edit";
    const input = document.createElement("input");
    input.value = m.text;
    input.required = true;
    input.setAttribute("aria-label", "New text");
    const save = document.createElement("button");
    save.type = "submit";
    save.textContent = "Save";
    const cancel = button("Cancel", "cancel-btn", () => renderMessage(li, state.messages.get(m.id) || m));
    form.append(input, save, cancel);
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      try {
        const row = await api("PATCH", `/api/messages/${m.id}`, { text: input.value });
        upsertMessage(row, false);
      } catch (err) {
        showError(err.message);
      }
    });
    li.replaceChildren(form);
    input.focus();
  }

  async function deleteMessage(id) {
    await api("DELETE", `/api/messages/${id}`);
    removeMessage(id);
  }

  function removeMessage(id) {
    state.messages.delete(id);
    const li = $("#messages").querySelector(`li[data-id="${id}"]`);
    if (li) li.remove();
  }

  function formatTime(s) {
    const d = new Date(s);
    return isNaN(d) ? "" : d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  }

  // ---- forms ------------------------------------------------------------

  function readId(input) {
    const n = Number(input.value);
    if (!Number.isSafeInteger(n) || n < 1) {
      showError("An id is a positive whole number.");
      return null;
    }
    return n;
  }

  function onSubmit(sel, fn) {
    $(sel).addEventListener("submit", async (e) => {
      e.preventDefault();
      try {
        await fn(e.target);
      } catch (err) {
        showError(err.message);
      }
    });
  }

  onSubmit("#login-form", async () => {
    const id = readId($("#user-id"));
    if (id !== null) await login(id);
  });

  onSubmit("#new-conv-form", async (form) => {
    const id = readId($("#peer-id"));
    if (id === null) return;
    await openWith(id);
    form.reset();
  });

  onSubmit("#notify-form", async (form) => {
    const row = await api("POST", "/api/notifications", { message: $("#notify-text").value });
    addNotification(row, true);
    form.reset();
  });

  onSubmit("#composer", async () => {
    const input = $("#text");
    const row = await api("POST", "/api/messages", {
      conversation_id: state.open,
      recipient_id: Number($("#recipient").value),
      text: input.value,
    });
    upsertMessage(row, true);
    input.value = "";
    input.focus();
  });

  $("#logout").addEventListener("click", logout);

  // ---- start ------------------------------------------------------------

  renderStatus(socket ? "Connecting…" : undefined);
  const saved = Number(sessionStorage.getItem(SESSION_KEY));
  if (Number.isSafeInteger(saved) && saved > 0) {
    login(saved).catch((e) => showError(e.message));
  }
})();
