// The admins' live board (templates/admin/_board.html): each element with data-since (Unix s) shows the time
// since then, m:ss or h:mm:ss (as blueprints/admin/board.py's `elapsed` renders it), counted on every second.
// Time is the server's: each snapshot and update of the board's stream carries its `now`, and the difference
// from this browser's clock is kept. static/live.js puts the board in place and counts data-until down.
"use strict";

(function () {
  let skew = 0; // the server's clock minus this browser's, in seconds

  function format(seconds) {
    const s = Math.max(0, Math.floor(seconds));
    const hours = Math.floor(s / 3600);
    const minutes = Math.floor((s % 3600) / 60);
    const rest = String(s % 60).padStart(2, "0");
    return hours ? `${hours}:${String(minutes).padStart(2, "0")}:${rest}` : `${minutes}:${rest}`;
  }

  function tick() {
    const now = Date.now() / 1000 + skew;
    document.querySelectorAll("[data-since]").forEach((x) => {
      x.textContent = format(now - Number(x.dataset.since));
    });
  }

  function heard(e) {
    if (e.detail && e.detail.now) skew = Number(e.detail.now) - Date.now() / 1000;
    tick();
  }
  document.addEventListener("live:snapshot", heard);
  document.addEventListener("live:update", heard);
  setInterval(tick, 1000);
})();
