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

// CSV import: a chosen file is read here and sent in parts of PART_ROWS rows, each repeating the
// header and naming its first line, so the progress bar moves and refused rows keep the file's
// line numbers. Without this script the form sends the pasted text in one go.
const PART_ROWS = 250;

/** Splits CSV text into records (a quoted field may hold newlines), keeping each record's text. */
function csvRecords(text) {
  const out = [];
  let start = 0, quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (ch === '"') quoted = !quoted;
    else if (ch === "\n" && !quoted) { out.push(text.slice(start, i).replace(/\r$/, "")); start = i + 1; }
  }
  if (start < text.length) out.push(text.slice(start).replace(/\r$/, ""));
  return out;
}

document.addEventListener("DOMContentLoaded", () => {
  const form = document.getElementById("import");
  const file = document.getElementById("import-file");
  if (!form || !file) return;
  form.addEventListener("submit", async (e) => {
    if (!file.files.length) return; // pasted text: a plain post
    e.preventDefault();
    const text = (await file.files[0].text()).replace(/^\uFEFF/, "");
    const lines = csvRecords(text);
    const header = lines.shift() || "";
    const status = document.getElementById("import-status");
    const bar = document.getElementById("import-progress");
    const count = document.getElementById("import-count");
    const report = document.getElementById("import-report");
    const errors = document.querySelector("#row-errors tbody");
    const csrf = form.querySelector("input[name=_csrf]").value;
    status.hidden = false;
    bar.max = Math.max(lines.length, 1);
    let read = 0, created = 0;
    for (let at = 0; at < lines.length; at += PART_ROWS) {
      const part = [header].concat(lines.slice(at, at + PART_ROWS)).join("\n");
      const body = new URLSearchParams({ _csrf: csrf, csv: part, first_line: String(at + 1), format: "json" });
      const r = await fetch(form.action, { method: "POST", body, headers: { "content-type": "application/x-www-form-urlencoded" } });
      const answer = await r.json().catch(() => ({ error: "the server's answer could not be read" }));
      if (!r.ok) {
        const row = errors.insertRow();
        row.insertCell().textContent = String(at + 2);
        row.insertCell().textContent = "";
        row.insertCell().textContent = answer.error || String(r.status);
        break;
      }
      read += answer.rows;
      created += answer.created.length;
      for (const err of answer.errors) {
        const row = errors.insertRow();
        row.insertCell().textContent = String(err.line);
        row.insertCell().textContent = err.field || "";
        row.insertCell().textContent = err.message;
      }
      bar.value = Math.min(at + PART_ROWS, lines.length);
      count.textContent = `${bar.value} / ${lines.length}`;
    }
    document.getElementById("rows-read").textContent = String(read);
    document.getElementById("rows-created").textContent = String(created);
    report.hidden = false;
  });
});
