// The room page: live state over Server-Sent Events, and the message box.
"use strict";

(function () {
  const root = document.getElementById("room");
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const list = document.getElementById("messages");
  const people = document.getElementById("participants");
  const form = document.getElementById("compose");
  const text = document.getElementById("text");
  const url = document.getElementById("url");
  const send = document.getElementById("send");
  const error = document.getElementById("error");
  const statusBadge = document.getElementById("room-status");
  const voiceSelect = document.getElementById("voice");
  const languageSelect = document.getElementById("language");
  const captionsSwitch = document.getElementById("captions");
  const voices = JSON.parse(voiceSelect.dataset.voices); // {language: [[voice, its name], …]}
  const voiceNames = Object.fromEntries(Object.values(voices).flat());
  const languageNames = Object.fromEntries(Array.from(languageSelect.options, (o) => [o.value, o.textContent]));

  const STATE_TEXT = { queued: "queued", speaking: "speaking…", spoken: "spoken", failed: "failed" };

  function el(tag, cls, txt) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (txt !== undefined) e.textContent = txt;
    return e;
  }

  function renderMessage(m) {
    let li = list.querySelector(`li[data-id="${m.id}"]`);
    const fresh = !li;
    if (fresh) {
      li = el("li");
      li.dataset.id = m.id;
    }
    li.className = `message ${m.state}`;
    li.replaceChildren();
    const shown = { play: `▶ ${m.body}`, digits: `Keys sent: ${m.body}` }[m.kind] || m.body;
    const body = el("span", "body", shown);
    const meta = el("span", "meta");
    meta.append(el("span", "state", STATE_TEXT[m.state] || m.state));
    if (m.kind === "say") meta.append(el("span", "voice", `${voiceNames[m.voice] || m.voice} · ${languageNames[m.language] || m.language}`));
    li.append(body, meta);
    if (m.state === "failed") {
      const why = m.error || "Twilio could not play this message.";
      li.append(el("span", "why", m.error_code ? `Error ${m.error_code}: ${why}` : why));
    }
    // Keep typed order even if updates arrive out of order; captions fall in by time.
    place(li, Number(m.created_at), fresh, (x) => (x.dataset.id ? Number(x.dataset.id) > m.id : null));
  }

  // Put a conversation item where it belongs: before the first later one (by `earlier(x)` if it says,
  // else by time, data-at: epoch seconds of callchat's clock). Placed again only if its time changed.
  function place(li, at, fresh, earlier) {
    if (!fresh && Number(li.dataset.at) === at) return;
    li.dataset.at = at;
    const after = [...list.children].find((x) => x !== li && (earlier(x) ?? Number(x.dataset.at) > at));
    list.insertBefore(li, after || null);
    if (fresh) li.scrollIntoView({ block: "end" });
  }

  // A caption: what a phone party said (callchat/captions.py), on the left, labelled by speaker. A partial
  // result is provisional (italic, grey, "…" and "still listening") until the final one replaces it.
  function renderCaption(c) {
    let li = list.querySelector(`li[data-caption="${CSS.escape(c.id)}"]`);
    const fresh = !li;
    if (fresh) {
      li = el("li");
      li.dataset.caption = c.id;
    }
    if (c.kind === "notice") {
      li.className = "caption notice";
      li.setAttribute("role", "status");
      li.replaceChildren(el("span", "body", c.text));
    } else {
      li.className = `caption ${c.final ? "final" : "partial"}`;
      li.replaceChildren(el("span", "speaker", c.label || c.speaker), el("span", "body", c.text));
      if (!c.final) li.append(el("span", "state", "still listening"));
    }
    place(li, Number(c.at), fresh, () => null);
  }

  const timers = new Map();

  function dialText(p) {
    if (p.status === "no answer" && p.next_try_at) {
      const left = Math.max(0, Math.round(p.next_try_at - Date.now() / 1000));
      return `no answer, attempt ${p.attempt} of ${p.max_attempts}, next try in ${left} s`;
    }
    if (p.status === "ringing" || p.status === "dialing") return `${p.status}, attempt ${p.attempt} of ${p.max_attempts}`;
    return p.status || "";
  }

  function renderParticipant(p) {
    let li = people.querySelector(`li[data-call="${p.call_sid}"]`);
    if (!li) {
      li = el("li");
      li.dataset.call = p.call_sid;
      people.append(li);
    }
    const status = el("span", `muted status ${p.status === "in the call" ? "on" : ""}`, p.dial_id ? dialText(p) : p.status || "");
    li.replaceChildren(el("strong", null, p.label || "participant"), document.createTextNode(` ${p.dial_id ? "" : p.number || ""} `), status);
    if (p.muted) li.append(el("span", "muted small", " (listening)"));
    participantControls(li, p);
    clearInterval(timers.get(p.call_sid));
    if (p.dial_id && ["dialing", "ringing", "no answer"].includes(p.status)) {
      const cancel = el("button", "link", "cancel");
      cancel.type = "button";
      cancel.addEventListener("click", async () => {
        try { await post(root.dataset.cancelUrl.replace("CALL_ID", p.dial_id), {}); } catch (err) { showError(err.message); }
      });
      li.append(document.createTextNode(" "), cancel);
      if (p.status === "no answer") timers.set(p.call_sid, setInterval(() => (status.textContent = dialText(p)), 1000));
    }
  }

  let ended = false; // the room's call is over
  let sending = false; // a message post is in flight

  // How messages reach the phones, by the room's mode (callchat/rooms.py).
  const MODE_TEXT = {
    call: "Messages are spoken straight into the caller's call.",
    moving: "Someone else answered: moving the call into a conference…",
    joining: "Someone else answered: moving the call into a conference…",
    conference: "Conference: every phone on the call hears the messages.",
  };
  const modeLine = document.getElementById("room-mode");

  function renderRoom(room) {
    modeLine.textContent = room.status === "ended" ? "" : MODE_TEXT[room.mode] || "";
    statusBadge.textContent = room.status;
    statusBadge.className = `badge ${room.status}`;
    ended = room.status === "ended";
    form.querySelectorAll("textarea, input, button").forEach((x) => (x.disabled = ended));
    send.disabled = ended || sending;
    if (ended) showError("The call has ended.");
    callControls(ended);
    languageSelect.value = room.language;
    fillVoices(room.language, room.voice);
    document.getElementById("rate").value = room.rate || "medium";
    captionsSwitch.checked = room.captions !== "off";
    captionsSwitch.disabled = ended;
  }

  function fillVoices(language, current) {
    voiceSelect.replaceChildren(...(voices[language] || []).map(([v, name]) => {
      const o = el("option", null, name);
      o.value = v;
      o.selected = v === current;
      return o;
    }));
  }

  function showError(message) {
    error.textContent = message;
    error.hidden = !message;
  }

  function apply(event) {
    if (event.type === "message") renderMessage(event.message);
    else if (event.type === "participant") renderParticipant(event.participant);
    else if (event.type === "room") renderRoom(event.room);
    else if (event.type === "caption") renderCaption(event.caption);
  }

  const source = window.liveUpdates(root.dataset.events);
  source.addEventListener("snapshot", (e) => {
    const snap = JSON.parse(e.data);
    list.replaceChildren();
    people.replaceChildren();
    snap.messages.forEach(renderMessage);
    (snap.captions || []).forEach(renderCaption);
    snap.participants.forEach(renderParticipant);
    renderRoom(snap.room);
  });
  source.addEventListener("update", (e) => apply(JSON.parse(e.data)));

  async function post(target, payload) {
    const response = await fetch(target, {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrf, Accept: "application/json" },
      body: JSON.stringify(payload),
    });
    let data = {};
    try { data = await response.json(); } catch (_) { /* not JSON */ }
    if (response.status === 401) window.location.reload(); // signed out: the reload shows the sign-in page
    if (!response.ok) throw new Error(data.error || `The server answered ${response.status}.`);
    return data;
  }

  function kind() {
    return form.querySelector('input[name="kind"]:checked').value;
  }

  form.querySelectorAll('input[name="kind"]').forEach((radio) => radio.addEventListener("change", () => {
    const play = kind() === "play";
    text.hidden = play;
    url.hidden = !play;
    (play ? url : text).focus();
  }));

  // One id per message, so a double submit or a retry after a lost answer is stored once.
  // crypto.randomUUID needs a secure context (https or localhost); getRandomValues does not.
  function newClientId() {
    if (crypto.randomUUID) return crypto.randomUUID();
    return Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, "0")).join("");
  }

  let unsent = null; // { payload: JSON, id }: the message being sent, until the server has it

  function clientIdFor(payload) {
    const key = JSON.stringify(payload);
    if (!unsent || unsent.payload !== key) unsent = { payload: key, id: newClientId() };
    return unsent.id;
  }

  // Every message the page sends (typed, a quick phrase, keys): stored once per client id, then shown.
  async function sendMessage(payload, clientId) {
    const data = await post(root.dataset.post, { ...payload, client_id: clientId });
    renderMessage(data.message);
  }

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    if (sending) return; // Enter pressed again while the first post is in flight
    const payload = kind() === "play" ? { kind: "play", url: url.value } : { kind: "say", text: text.value };
    sending = true;
    send.disabled = true;
    try {
      await sendMessage(payload, clientIdFor(payload));
      unsent = null;
      showError("");
      text.value = "";
      url.value = "";
    } catch (err) {
      showError(err.message);
    } finally {
      sending = false;
      send.disabled = ended;
    }
  });

  // While the typist types, say so to the server every few seconds: a typing notice may follow (jobs/notices.py).
  let typingSaidAt = 0;
  text.addEventListener("input", () => {
    if (ended || !text.value.trim() || Date.now() - typingSaidAt < 3000) return;
    typingSaidAt = Date.now();
    post(root.dataset.typingUrl, {}).catch(() => {}); // a lost report only means no notice
  });

  // Quick phrases: a click (or Alt+1…9) sends the phrase as a message, as if typed.
  const phraseButtons = Array.from(document.querySelectorAll("#phrases .phrase"));
  async function sendPhrase(button) {
    if (ended || button.disabled) return;
    button.disabled = true;
    try {
      await sendMessage({ kind: "say", text: button.dataset.text }, newClientId());
      showError("");
    } catch (err) {
      showError(err.message);
    } finally {
      button.disabled = false;
    }
  }
  phraseButtons.forEach((button) => button.addEventListener("click", () => sendPhrase(button)));
  document.addEventListener("keydown", (e) => {
    if (!e.altKey || e.ctrlKey || e.metaKey || !/^Digit[1-9]$/.test(e.code)) return;
    const button = phraseButtons[Number(e.code.slice(5)) - 1];
    if (!button) return;
    e.preventDefault();
    sendPhrase(button);
  });

  const dial = document.getElementById("dial");
  const dialError = document.getElementById("dial-error");
  const dialButton = dial.querySelector("button");
  dial.addEventListener("submit", async (e) => {
    e.preventDefault();
    if (dialButton.disabled) return;
    dialButton.disabled = true;
    try {
      await post(dial.dataset.url, { to: dial.elements.to.value });
      dial.elements.to.value = "";
      dialError.hidden = true;
    } catch (err) {
      dialError.textContent = err.message;
      dialError.hidden = false;
    } finally {
      dialButton.disabled = false;
    }
  });

  text.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      form.requestSubmit();
    }
  });

  async function changeVoice() {
    try {
      await post(root.dataset.voiceUrl, { language: languageSelect.value, voice: voiceSelect.value, rate: rateSelect.value });
      showError("");
    } catch (err) {
      showError(err.message);
    }
  }
  languageSelect.addEventListener("change", () => {
    fillVoices(languageSelect.value, ((voices[languageSelect.value] || [])[0] || [])[0]);
    changeVoice();
  });
  voiceSelect.addEventListener("change", changeVoice);
  captionsSwitch.addEventListener("change", async () => {
    try {
      await post(root.dataset.captionsUrl, { on: captionsSwitch.checked });
      showError("");
    } catch (err) {
      captionsSwitch.checked = !captionsSwitch.checked;
      showError(err.message);
    }
  });
  const rateSelect = document.getElementById("rate");
  rateSelect.addEventListener("change", changeVoice);

  // Call controls and keypad (issue 11). Each posts to its route (blueprints/rooms.py); the
  // state they change (muted, held, hung up) comes back over the event stream to every page.
  async function control(path, payload) {
    try {
      await post(`${root.dataset.roomUrl}/${path}`, payload || {});
      showError("");
    } catch (err) {
      showError(err.message);
    }
  }

  function participantControls(li, p) {
    if (p.held) li.append(el("span", "flags", " · on hold"));
    if (p.status !== "in the call") return;
    const key = encodeURIComponent(p.call_sid);
    const row = el("span", "controls");
    const button = (label, path, payload) => {
      const b = el("button", null, label);
      b.type = "button";
      b.addEventListener("click", () => control(`participants/${key}/${path}`, payload));
      row.append(b);
    };
    button(p.muted ? "Unmute" : "Mute", "mute", { muted: !p.muted });
    button(p.held ? "Resume" : "Hold", "hold", { held: !p.held });
    button("Remove", "remove", {});
    li.append(row);
  }

  const controlsBox = document.getElementById("call-controls");
  const keypad = document.getElementById("keypad");
  const keysInput = document.getElementById("keys");
  const keypadError = document.getElementById("keypad-error");

  function callControls(over) {
    controlsBox.querySelectorAll("button").forEach((b) => (b.disabled = over));
    keypad.querySelectorAll("button, input").forEach((x) => (x.disabled = over));
  }

  controlsBox.addEventListener("click", (e) => {
    const name = e.target.dataset && e.target.dataset.control;
    if (!name) return;
    if (name === "hangup" && !window.confirm("Hang up the call for everyone?")) return;
    control(name);
  });

  async function pressKeys(digits) {
    try {
      await sendMessage({ kind: "digits", digits }, newClientId());
      keypadError.hidden = true;
      return true;
    } catch (err) {
      keypadError.textContent = err.message;
      keypadError.hidden = false;
      return false;
    }
  }

  keypad.querySelectorAll("button[data-key]").forEach((b) => b.addEventListener("click", () => pressKeys(b.dataset.key)));
  keypad.addEventListener("submit", async (e) => {
    e.preventDefault();
    if (await pressKeys(keysInput.value)) keysInput.value = "";
  });
  fillVoices(languageSelect.value, voiceSelect.dataset.current);
})();
