// A page part that follows something under way (a call's progress): every data-refresh seconds it
// fetches the page again and shows the new part in place (it is a polite live region), so no meta
// refresh reloads the whole page under a screen reader. When the page now redirects (the call's room
// opened), it goes there; when the new part no longer refreshes, it stops.
"use strict";

(function () {
  let part = document.querySelector("[data-refresh]");
  if (!part) return;

  async function again() {
    let response;
    try {
      response = await fetch(window.location.href, { headers: { Accept: "text/html" } });
    } catch (_) {
      setTimeout(again, Number(part.dataset.refresh) * 1000); // offline for a moment: try later
      return;
    }
    if (response.redirected) {
      window.location.assign(response.url);
      return;
    }
    const fresh = new DOMParser().parseFromString(await response.text(), "text/html").getElementById(part.id);
    if (!fresh) return;
    if (fresh.innerHTML !== part.innerHTML) part.innerHTML = fresh.innerHTML;
    if (!fresh.dataset.refresh) return;
    setTimeout(again, Number(fresh.dataset.refresh) * 1000);
  }
  setTimeout(again, Number(part.dataset.refresh) * 1000);
})();
