// The room page's behaviour: posting messages, quick phrases, keys, controls, voice and captions, the
// keyboard shortcuts, and keeping the conversation's end in view. The markup of everything the call
// changes is the server's (static/live.js places it); the texts this script shows come from the page.
"use strict";

(function () {
  const root = document.getElementById("room");
  const list = document.getElementById("messages");
  const form = document.getElementById("compose");
  const text = document.getElementById("text");
  const url = document.getElementById("url");
  const send = document.getElementById("send");
  const error = document.getElementById("error");
  const voiceSelect = document.getElementById("voice");
  const languageSelect = document.getElementById("language");
  const rateSelect = document.getElementById("rate");
  const captionsSwitch = document.getElementById("captions");
  const controlsBox = document.getElementById("call-controls");
  const keypad = document.getElementById("keypad");
  const keysInput = document.getElementById("keys");
  const keypadError = document.getElementById("keypad-error");
  const dial = document.getElementById("dial");
  const dialError = document.getElementById("dial-error");
  const dialButton = dial.querySelector("button");
  const phraseButtons = Array.from(document.querySelectorAll("#phrases .phrase"));

  let ended = false; // the room's call is over
  let sending = false; // a message post is in flight

  // The newest item in view: on load, after sending, and when one arrives (unless the reader scrolled up).
  function showEnd() {
    list.scrollTop = list.scrollHeight;
    const last = list.lastElementChild;
    if (last && last.getBoundingClientRect().bottom > window.innerHeight) last.scrollIntoView({ block: "end" });
  }
  let atEnd = true;
  list.addEventListener("scroll", () => { atEnd = list.scrollHeight - list.scrollTop - list.clientHeight < 40; });
  document.addEventListener("live:placed", (e) => {
    if (e.detail.fresh && list.contains(e.detail.node) && atEnd) showEnd();
  });

  function showError(message) {
    error.textContent = message;
    error.hidden = !message;
  }

  // Only the chosen language's voices are offered (the page lists every voice, each with its data-language).
  function offerVoices(language, current) {
    let chosen = null;
    Array.from(voiceSelect.options).forEach((o) => {
      const offered = o.dataset.language === language;
      o.hidden = !offered;
      o.disabled = !offered;
      if (offered && (o.value === current || !chosen)) chosen = o;
    });
    if (chosen) voiceSelect.value = chosen.value;
  }

  // The room's state, from its header (templates/rooms/_room_status.html, kept current by live.js).
  function roomChanged() {
    const head = document.getElementById("room-head");
    ended = head.dataset.status === "ended";
    form.querySelectorAll("textarea, input, button").forEach((x) => (x.disabled = ended));
    send.disabled = ended || sending;
    if (ended) showError(root.dataset.endedText);
    controlsBox.querySelectorAll("button").forEach((b) => (b.disabled = ended));
    keypad.querySelectorAll("button, input").forEach((x) => (x.disabled = ended));
    captionsSwitch.disabled = ended;
    phraseButtons.forEach((b) => (b.disabled = ended));
    if (document.activeElement === languageSelect || document.activeElement === voiceSelect) return;
    languageSelect.value = head.dataset.language;
    offerVoices(head.dataset.language, head.dataset.voice);
    rateSelect.value = head.dataset.rate;
    captionsSwitch.checked = head.dataset.captions !== "off";
  }
  document.addEventListener("live:snapshot", roomChanged);
  document.addEventListener("live:update", (e) => { if (e.detail.type === "room") roomChanged(); });

  const post = (target, payload) => window.live.post(target, payload, root.dataset.serverError);

  // Post, then say what went wrong in `shown` (an error line), or clear it.
  const act = (target, payload, shown) => window.live.act(target, payload, shown, root.dataset.serverError);

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

  // Every message the page sends (typed, a quick phrase, keys): stored once per client id, then shown
  // at once from the answer's bubble (the stream brings the same one).
  async function sendMessage(payload, clientId, shown) {
    const data = await act(root.dataset.post, { ...payload, client_id: clientId }, shown);
    if (data) {
      window.live.add("message", data.html);
      showEnd();
    }
    return data;
  }

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    if (sending) return; // Enter pressed again while the first post is in flight
    const payload = kind() === "play" ? { kind: "play", url: url.value } : { kind: "say", text: text.value };
    sending = true;
    send.disabled = true;
    try {
      if (await sendMessage(payload, clientIdFor(payload), error)) {
        unsent = null;
        text.value = "";
        url.value = "";
      }
    } finally {
      sending = false;
      send.disabled = ended;
    }
  });

  text.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      form.requestSubmit();
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
  async function sendPhrase(button) {
    if (ended || button.disabled) return;
    button.disabled = true;
    try {
      await sendMessage({ kind: "say", text: button.dataset.text }, newClientId(), error);
    } finally {
      button.disabled = ended;
    }
  }
  phraseButtons.forEach((button) => button.addEventListener("click", () => sendPhrase(button)));

  // Shortcuts (listed on the page, and in each control's aria-keyshortcuts): Alt+1…9 a quick phrase,
  // Alt+Shift+K the keypad, Alt+Shift+H hang up (after asking).
  const hangup = document.getElementById("hangup");
  document.addEventListener("keydown", (e) => {
    if (!e.altKey || e.ctrlKey || e.metaKey) return;
    if (!e.shiftKey && /^Digit[1-9]$/.test(e.code)) {
      const button = phraseButtons[Number(e.code.slice(5)) - 1];
      if (!button) return;
      e.preventDefault();
      sendPhrase(button);
    } else if (e.shiftKey && e.code === "KeyK") {
      e.preventDefault();
      keysInput.focus();
    } else if (e.shiftKey && e.code === "KeyH" && !hangup.disabled) {
      e.preventDefault();
      hangup.click();
    }
  });

  dial.addEventListener("submit", async (e) => {
    e.preventDefault();
    if (dialButton.disabled) return;
    dialButton.disabled = true;
    try {
      if (await act(dial.dataset.url, { to: dial.elements.to.value }, dialError)) dial.elements.to.value = "";
    } finally {
      dialButton.disabled = false;
    }
  });

  async function changeVoice() {
    await act(root.dataset.voiceUrl, { language: languageSelect.value, voice: voiceSelect.value, rate: rateSelect.value }, error);
  }
  languageSelect.addEventListener("change", () => {
    offerVoices(languageSelect.value, null);
    changeVoice();
  });
  voiceSelect.addEventListener("change", changeVoice);
  rateSelect.addEventListener("change", changeVoice);
  captionsSwitch.addEventListener("change", async () => {
    if (!(await act(root.dataset.captionsUrl, { on: captionsSwitch.checked }, error))) captionsSwitch.checked = !captionsSwitch.checked;
  });

  // Call controls, participants' controls and cancelling a call being placed: each button posts its
  // data-body (JSON) to its data-url; what changes comes back over the stream to every page.
  function control(e) {
    const button = e.target.closest("button[data-url]");
    if (!button) return;
    if (button.dataset.confirm && !window.confirm(button.dataset.confirm)) return;
    act(button.dataset.url, JSON.parse(button.dataset.body || "{}"), error);
  }
  controlsBox.addEventListener("click", control);
  document.getElementById("participants").addEventListener("click", control);

  async function pressKeys(digits) {
    return sendMessage({ kind: "digits", digits }, newClientId(), keypadError);
  }
  keypad.querySelectorAll("button[data-key]").forEach((b) => b.addEventListener("click", () => pressKeys(b.dataset.key)));
  keypad.addEventListener("submit", async (e) => {
    e.preventDefault();
    if (await pressKeys(keysInput.value)) keysInput.value = "";
  });

  // The chat card is the screen's height less the site's header (style.css: --top-height), however that wraps.
  const top = document.querySelector("header.top");
  function fit() {
    document.documentElement.style.setProperty("--top-height", `${top.offsetHeight}px`);
  }
  window.addEventListener("resize", fit);
  fit();
  roomChanged();
  showEnd();
})();
