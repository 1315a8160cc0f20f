// A new incoming call, told by the live stream (static/live.js: live:incoming), is noticed: a short beep,
// the page title counts the calls ("(1) Incoming call · callchat"), the line saying so (with a link to the
// room) goes into the page's assertive live region, shown until the person dismisses it, and a desktop
// notification shows if the person allowed them (the list page's button asks; nothing asks unprompted).
// The texts come from templates/base.html.
// A call offered to an operator (static/operator.js shows it) beeps the same way.
"use strict";

(function () {
  const region = document.getElementById("incoming");
  if (!region) return;
  const title = document.title;
  let count = 0;
  let audio = null;

  // Browsers let a page make sound only after the person used it: make the audio context on a first click or key.
  function unlock() {
    const Context = window.AudioContext || window.webkitAudioContext;
    if (!audio && Context) audio = new Context();
    if (audio && audio.state === "suspended") audio.resume().catch(() => {});
  }
  document.addEventListener("pointerdown", unlock, { once: true });
  document.addEventListener("keydown", unlock, { once: true });

  function beep() {
    try { unlock(); } catch (_) { /* no sound before the person used the page: the card still shows */ }
    if (!audio) return;
    const tone = audio.createOscillator();
    const gain = audio.createGain();
    tone.frequency.value = 880;
    gain.gain.setValueAtTime(0.2, audio.currentTime);
    gain.gain.exponentialRampToValueAtTime(0.001, audio.currentTime + 0.4);
    tone.connect(gain).connect(audio.destination);
    tone.start();
    tone.stop(audio.currentTime + 0.4);
  }

  // Dismissed, the notice goes until the next call (the row on the list page stays).
  const dismiss = document.getElementById("incoming-dismiss");
  dismiss.addEventListener("click", () => {
    region.replaceChildren();
    dismiss.hidden = true;
  });

  document.addEventListener("live:incoming", (e) => {
    count += 1;
    document.title = region.dataset.title.replace("COUNT", count);
    region.innerHTML = e.detail.html;
    dismiss.hidden = false;
    beep();
    if ("Notification" in window && Notification.permission === "granted") {
      const link = region.querySelector("a");
      const shown = new Notification(region.dataset.notification, { body: region.textContent.trim(), tag: e.detail.room.id });
      shown.onclick = () => { window.focus(); window.location.assign(link.href); };
    }
  });
  document.addEventListener("live:operator", (e) => { if (e.detail.type === "offer") beep(); });
  // Seen: the title goes back once the person comes to the page.
  window.addEventListener("focus", () => {
    count = 0;
    document.title = title;
  });

  const ask = document.getElementById("notify-ask");
  if (ask && "Notification" in window && Notification.permission === "default") {
    ask.hidden = false;
    ask.querySelector("button").addEventListener("click", async () => {
      await Notification.requestPermission();
      ask.hidden = Notification.permission !== "default";
    });
  }
})();
