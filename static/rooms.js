// The room list: rooms appear and disappear live, over Server-Sent Events.
"use strict";

(function () {
  const list = document.getElementById("rooms");
  const empty = document.getElementById("empty");

  function render(room) {
    let li = list.querySelector(`li[data-room="${room.id}"]`);
    if (room.status === "ended") {
      if (li) li.remove();
    } else {
      if (!li) {
        li = document.createElement("li");
        li.dataset.room = room.id;
        list.append(li);
      }
      const a = document.createElement("a");
      a.href = `/rooms/${encodeURIComponent(room.id)}`;
      a.textContent = `${room.direction === "outgoing" ? "Call to" : "Call from"} ${room.caller || "an unknown number"}`;
      const badge = document.createElement("span");
      badge.className = `badge ${room.status}`;
      badge.textContent = room.status;
      li.replaceChildren(a, document.createTextNode(" "), badge);
    }
    empty.hidden = list.children.length > 0;
  }

  const source = window.liveUpdates("/rooms/events");
  source.addEventListener("snapshot", (e) => {
    list.replaceChildren();
    JSON.parse(e.data).rooms.forEach(render);
  });
  source.addEventListener("update", (e) => render(JSON.parse(e.data).room));
})();
