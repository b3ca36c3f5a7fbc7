// The console's only script (CSP script-src 'self'): small progressive enhancement; pages work without it.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  // A form marked data-confirm asks before it is sent (cancelling, ending sessions).
  for (const form of document.querySelectorAll("form[data-confirm]")) {
    form.addEventListener("submit", (event) => {
      if (!window.confirm(form.dataset.confirm)) event.preventDefault();
    });
  }
});
