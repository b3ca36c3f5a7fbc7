// The console's only script (CSP script-src 'self'): small progressive enhancement; pages work without it.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  // A form marked data-confirm asks before it is sent (cancelling, ending sessions).
  for (const form of document.querySelectorAll("form[data-confirm]")) {
    form.addEventListener("submit", (event) => {
      if (!window.confirm(form.dataset.confirm)) event.preventDefault();
    });
  }

  // An element marked data-refresh="URL" gets that URL's HTML fragment every data-interval seconds (the
  // dashboard during a rush, a mailing's progress). The fragment is rendered and escaped by the server; a
  // refusal or redirect (session ended) stops the refreshing: a reload shows the login.
  for (const box of document.querySelectorAll("[data-refresh]")) {
    const seconds = Math.max(2, Number(box.dataset.interval) || 5);
    const timer = window.setInterval(async () => {
      try {
        const response = await fetch(box.dataset.refresh, { credentials: "same-origin", redirect: "manual" });
        if (response.status !== 200) { window.clearInterval(timer); return; }
        box.innerHTML = await response.text();
      } catch (error) {
        // the console is unreachable for a moment: keep the numbers shown, try again next time
      }
    }, seconds * 1000);
  }
});
