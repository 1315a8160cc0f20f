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
  const error = document.getElementById("error");
  const statusBadge = document.getElementById("room-status");
  const voiceSelect = document.getElementById("voice");
  const languageSelect = document.getElementById("language");
  const voices = JSON.parse(voiceSelect.dataset.voices);

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
    const body = m.kind === "play" ? el("span", "body", `▶ ${m.body}`) : el("span", "body", m.body);
    const meta = el("span", "meta");
    meta.append(el("span", "state", STATE_TEXT[m.state] || m.state));
    if (m.kind === "say") meta.append(el("span", "voice", `${m.voice} · ${m.language}`));
    li.append(body, meta);
    if (m.state === "failed") {
      const why = m.error || "Twilio could not play this message.";
      li.append(el("span", "why", m.error_code ? `Error ${m.error_code}: ${why}` : why));
    }
    if (fresh) {
      // Keep typed order even if updates arrive out of order.
      const after = [...list.children].find((x) => Number(x.dataset.id) > m.id);
      list.insertBefore(li, after || null);
      li.scrollIntoView({ block: "end" });
    }
  }

  function renderParticipant(p) {
    let li = people.querySelector(`li[data-call="${p.call_sid}"]`);
    if (!li) {
      li = el("li");
      li.dataset.call = p.call_sid;
      people.append(li);
    }
    li.replaceChildren(el("strong", null, p.label || "participant"), document.createTextNode(` ${p.number || ""} `),
      el("span", `muted status ${p.status === "in the call" ? "on" : ""}`, p.status || ""));
    if (p.muted) li.append(el("span", "muted small", " (listening)"));
  }

  function renderRoom(room) {
    statusBadge.textContent = room.status;
    statusBadge.className = `badge ${room.status}`;
    const ended = room.status === "ended";
    form.querySelectorAll("textarea, input, button").forEach((x) => (x.disabled = ended));
    if (ended) showError("The call has ended.");
    languageSelect.value = room.language;
    fillVoices(room.language, room.voice);
  }

  function fillVoices(language, current) {
    voiceSelect.replaceChildren(...(voices[language] || []).map((v) => {
      const o = el("option", null, v);
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
  }

  const source = new EventSource(root.dataset.events);
  source.addEventListener("snapshot", (e) => {
    const snap = JSON.parse(e.data);
    list.replaceChildren();
    people.replaceChildren();
    snap.messages.forEach(renderMessage);
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

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const payload = kind() === "play" ? { kind: "play", url: url.value } : { kind: "say", text: text.value };
    try {
      const data = await post(root.dataset.post, payload);
      renderMessage(data.message);
      showError("");
      text.value = "";
      url.value = "";
    } catch (err) {
      showError(err.message);
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
      await post(root.dataset.voiceUrl, { language: languageSelect.value, voice: voiceSelect.value });
      showError("");
    } catch (err) {
      showError(err.message);
    }
  }
  languageSelect.addEventListener("change", () => {
    fillVoices(languageSelect.value, (voices[languageSelect.value] || [])[0]);
    changeVoice();
  });
  voiceSelect.addEventListener("change", changeVoice);
  fillVoices(languageSelect.value, voiceSelect.dataset.current);
})();
