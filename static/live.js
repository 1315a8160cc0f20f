// Live updates over Server-Sent Events, for the room list and a room's page. The server renders every
// piece of markup (templates/rooms/_*.html) and sends it in each event's `html`; this script only puts
// pieces in place: a piece replaces the element with its id, else goes into the box whose data-live
// names its type, before the first later one (data-at: epoch seconds); a piece marked data-gone leaves.
// Other scripts hear of each change as DOM events on document: live:snapshot, live:update (detail: the
// event's JSON), live:placed (detail: {type, node, fresh}), live:incoming and live:operator (an operator's
// offers and state: static/operator.js).
"use strict";

(function () {
  function pieces(html) {
    const holder = document.createElement("template");
    holder.innerHTML = html;
    return Array.from(holder.content.children);
  }

  function tell(name, detail) {
    document.dispatchEvent(new CustomEvent(`live:${name}`, { detail }));
  }

  // Put one piece (an element with an id) of `type` in place; return the element now shown, or null.
  function place(type, node) {
    const box = document.querySelector(`[data-live~="${type}"]`);
    if (!box || !node.id) return null;
    const old = document.getElementById(node.id);
    if (node.hasAttribute("data-gone")) {
      if (old) old.remove();
      return null;
    }
    if (old && old.outerHTML === node.outerHTML) return old;
    if (old && old.dataset.at === node.dataset.at) {
      old.replaceWith(node);
    } else {
      if (old) old.remove();
      const at = Number(node.dataset.at);
      const later = node.dataset.at === undefined ? null : Array.from(box.children).find((x) => Number(x.dataset.at) > at);
      box.insertBefore(node, later || null);
    }
    countdown(node);
    tell("placed", { type, node, fresh: !old });
    return node;
  }

  // Every piece of a snapshot, by type: place each, and remove what the snapshot no longer has.
  function sync(type, html) {
    const box = document.querySelector(`[data-live~="${type}"]`);
    if (!box) return;
    const kept = new Set(pieces(html).map((node) => place(type, node)));
    Array.from(box.children).forEach((x) => { if (!kept.has(x)) x.remove(); });
  }

  // A countdown: an element with data-until (epoch seconds) shows data-text with SECONDS replaced by the seconds left.
  function countdown(root) {
    const found = root.matches("[data-until]") ? [root] : Array.from(root.querySelectorAll("[data-until]"));
    found.forEach((x) => {
      const left = Math.max(0, Math.round(Number(x.dataset.until) - Date.now() / 1000));
      x.textContent = x.dataset.text.replace("SECONDS", left);
    });
  }
  setInterval(() => countdown(document.body), 1000);

  // Closed because this person has too many pages open ("closed", callchat/streams.py): say so above
  // the page (templates/base.html's #live-closed-notice) and stop, rather than reconnect and close another page.
  function closed(message) {
    const notice = document.getElementById("live-closed-notice").content.firstElementChild.cloneNode(true);
    notice.querySelector(".why").textContent = message;
    notice.querySelector("button").addEventListener("click", () => window.location.reload());
    document.querySelector("main").prepend(notice);
  }

  // For other scripts: place(type, html) puts a piece in place; add(type, html) only if it is not shown yet
  // (a post's answer may come after the stream brought a newer state of the same message).
  // post(url, payload, serverError) sends JSON with the page's CSRF token and answers the reply's JSON; it throws
  // an Error with the reply's `error` (or serverError, STATUS replaced) when refused, and reloads when signed out.
  async function post(target, payload, serverError) {
    const csrf = document.querySelector('meta[name="csrf-token"]').content;
    const response = await fetch(target, {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrf, Accept: "application/json" },
      body: JSON.stringify(payload || {}),
    });
    let data = {};
    try { data = await response.json(); } catch (_) { /* not JSON */ }
    if (response.status === 401) window.location.reload(); // signed out: the reload shows the sign-in page
    if (!response.ok) throw new Error(data.error || serverError.replace("STATUS", response.status));
    return data;
  }

  // act(url, payload, shown, serverError): post, then say what went wrong in `shown` (an error line), or clear it;
  // answers the reply's JSON, or null when refused.
  async function act(target, payload, shown, serverError) {
    try {
      const data = await post(target, payload, serverError);
      shown.hidden = true;
      return data;
    } catch (err) {
      shown.textContent = err.message;
      shown.hidden = false;
      return null;
    }
  }

  window.live = {
    place: (type, html) => pieces(html).map((node) => place(type, node))[0] || null,
    add: (type, html) => pieces(html).map((node) => document.getElementById(node.id) || place(type, node))[0] || null,
    post,
    act,
  };

  const stream = document.querySelector("[data-events]");
  if (!stream) return;
  const source = new EventSource(stream.dataset.events);
  // Signed out (elsewhere, or disabled) or refused: reload, which shows the sign-in page.
  source.addEventListener("signed-out", () => window.location.reload());
  source.addEventListener("error", () => { if (source.readyState === EventSource.CLOSED) window.location.reload(); });
  source.addEventListener("closed", (e) => {
    source.close();
    closed(JSON.parse(e.data).message);
  });
  source.addEventListener("snapshot", (e) => {
    const data = JSON.parse(e.data);
    if (!data) return;
    Object.entries(data.html || {}).forEach(([type, html]) => sync(type, html));
    tell("snapshot", data);
  });
  source.addEventListener("update", (e) => {
    const data = JSON.parse(e.data);
    if (data.html !== undefined) pieces(data.html).forEach((node) => place(data.type, node));
    tell("update", data);
  });
  source.addEventListener("incoming", (e) => tell("incoming", JSON.parse(e.data)));
  source.addEventListener("operator", (e) => tell("operator", JSON.parse(e.data)));
})();
