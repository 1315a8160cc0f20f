// The operator's side of the live pages (templates/operators/_*.html): the presence buttons (Available / Away),
// the calls offered to them (Accept), the cards saying an offer went (removed after FADE_MS), a call handed to
// them, and a team call's owner handing it over or asking for help. Every piece comes rendered in an `operator`
// event (static/live.js: live:operator); this script places it and posts the buttons.
"use strict";

(function () {
  const desk = document.getElementById("desk");
  const room = document.getElementById("room");
  const FADE_MS = 6000;
  const serverError = () => (desk || room).dataset.serverError;

  // Post and go on with the answer, or show the error in the line (.error) of the box around `button`.
  async function act(button, target, payload) {
    const shown = button.closest("#presence, .offer, #gate, #handover").querySelector(".error");
    button.disabled = true;
    const data = await window.live.act(target, payload, shown, serverError());
    button.disabled = false;
    return data;
  }

  document.addEventListener("click", async (e) => {
    const accept = e.target.closest("[data-accept]");
    const choose = e.target.closest("[data-choose]");
    const handover = e.target.closest("[data-handover]");
    if (accept) {
      const data = await act(accept, accept.dataset.accept);
      if (data) window.location.assign(data.url);
    } else if (choose) {
      await act(choose, desk.dataset.presenceUrl, { state: choose.dataset.choose }); // the stream re-renders it
    } else if (handover) {
      await act(handover, handover.dataset.handover, { to: document.getElementById("handover-to").value });
    }
  });

  document.addEventListener("live:operator", (e) => {
    const event = e.detail;
    const node = window.live.place(event.type === "state" ? "presence" : "offer", event.html);
    if (node && node.hasAttribute("data-fade")) setTimeout(() => node.remove(), FADE_MS);
    if (event.type === "offer-gone" && room) room.querySelectorAll("#gate [data-accept]").forEach((b) => b.remove());
  });

  // A room page whose reader gained or lost the right to type (accepted elsewhere, handed the call, handed it
  // on): load it again, with or without the message box.
  document.addEventListener("live:update", (e) => {
    const head = document.getElementById("room-head");
    if (e.detail.type === "room" && room && head && head.dataset.mayType !== room.dataset.mayType) window.location.reload();
  });
})();
