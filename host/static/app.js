// capcrm: the one script of the UI. Pages work without it; it only helps keyboard and screen
// reader use. No inline script anywhere (the Content-Security-Policy forbids it).
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  // After a form comes back with errors, put the keyboard on the first field that needs attention.
  const invalid = document.querySelector('[aria-invalid="true"]');
  if (invalid) invalid.focus();
  // In a form of many selects (the role matrix), Enter on a select saves, as it does in a text field.
  for (const form of document.querySelectorAll("form[data-enter-submits]")) {
    form.addEventListener("keydown", (e) => {
      if (e.key === "Enter" && e.target instanceof HTMLSelectElement && !e.isComposing) {
        e.preventDefault();
        form.requestSubmit();
      }
    });
  }
  // Forms that ask before they act: data-confirm holds the question.
  for (const form of document.querySelectorAll("form[data-confirm]")) {
    form.addEventListener("submit", (e) => {
      if (!window.confirm(form.dataset.confirm)) e.preventDefault();
    });
  }
});
