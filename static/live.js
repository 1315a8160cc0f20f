// Live updates over Server-Sent Events, for the room list (rooms.js) and a room's page (chat.js).
"use strict";

// Open the stream at `url` and return its EventSource; the caller listens for "snapshot" and "update".
// Signed out (elsewhere, or disabled) or refused: reload, which shows the sign-in page.
// Closed because this person has too many pages open ("closed", callchat/streams.py): say so above
// the page and stop, rather than reconnect and close another of their pages.
window.liveUpdates = function (url) {
  const source = new EventSource(url);
  source.addEventListener("signed-out", () => window.location.reload());
  source.addEventListener("error", () => { if (source.readyState === EventSource.CLOSED) window.location.reload(); });
  source.addEventListener("closed", (e) => {
    source.close();
    const notice = document.createElement("p");
    notice.className = "notice stale";
    notice.setAttribute("role", "status");
    notice.id = "live-closed";
    const reload = document.createElement("button");
    reload.type = "button";
    reload.textContent = "Reload";
    reload.addEventListener("click", () => window.location.reload());
    notice.append(document.createTextNode(`${JSON.parse(e.data).message} `), reload);
    document.querySelector("main").prepend(notice);
  });
  return source;
};
