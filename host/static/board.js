// capcrm: the leads board. Every card has a form that moves its lead without this script; the
// script adds dragging a card to another column and moving it from the keyboard (Space picks it
// up, the arrow keys choose a column, Enter drops, Escape cancels), announced to screen readers.
// Both submit the card's own form, so the server and the plugin's rules decide as for the form.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const board = document.getElementById("board");
  if (!board) return;
  const live = document.getElementById("board-live");
  const help = document.getElementById("board-help");
  if (help) help.hidden = false;
  board.classList.add("enhanced");
  const columns = Array.from(board.querySelectorAll(".column"));

  const say = (key, vars) => {
    let text = board.dataset[key] || "";
    for (const [k, v] of Object.entries(vars)) text = text.split("{" + k + "}").join(v);
    if (live) live.textContent = text;
  };
  const columnOf = (card) => card.closest(".column");
  const movable = (card) => !!card.querySelector("form.move");
  const allowed = (card, col) => (card.dataset.next || "").split(" ").includes(col.dataset.stage);
  const mark = (card, col) => {
    for (const c of columns) c.classList.remove("drop-ok", "drop-no");
    if (card && col && col !== columnOf(card)) col.classList.add(allowed(card, col) ? "drop-ok" : "drop-no");
  };
  const announce = (card, col) => {
    const vars = { lead: card.dataset.title, stage: col.dataset.label };
    if (col === columnOf(card)) say("tPicked", { lead: card.dataset.title, from: col.dataset.label });
    else say(allowed(card, col) ? "tOver" : "tOverNo", vars);
  };
  // Sends the card's form with the column's stage chosen in it.
  const submit = (card, col) => {
    const form = card.querySelector("form.move");
    form.querySelector("select[name=to]").value = col.dataset.stage;
    say("tMoving", { lead: card.dataset.title, stage: col.dataset.label });
    board.classList.add("busy");
    if (form.requestSubmit) form.requestSubmit();
    else form.submit();
  };

  // The keyboard.
  let held = null;
  const cancel = (quiet) => {
    if (!held) return;
    held.card.classList.remove("held");
    if (!quiet) say("tCancelled", { lead: held.card.dataset.title });
    held = null;
    mark(null, null);
  };
  board.addEventListener("keydown", (e) => {
    const card = e.target.closest(".card");
    if (!card || e.target !== card || !movable(card)) return;
    if (!held) {
      if (e.key === " " || e.key === "Enter") {
        e.preventDefault();
        held = { card, index: columns.indexOf(columnOf(card)) };
        card.classList.add("held");
        announce(card, columnOf(card));
      }
      return;
    }
    const step = { ArrowRight: 1, ArrowDown: 1, ArrowLeft: -1, ArrowUp: -1 }[e.key];
    if (step) {
      e.preventDefault();
      held.index = (held.index + step + columns.length) % columns.length;
      const col = columns[held.index];
      mark(card, col);
      announce(card, col);
    } else if (e.key === "Enter" || e.key === " ") {
      e.preventDefault();
      const col = columns[held.index];
      if (col === columnOf(card)) cancel(false);
      else if (allowed(card, col)) submit(card, col);
      else announce(card, col);
    } else if (e.key === "Escape") {
      e.preventDefault();
      cancel(false);
    } else if (e.key === "Tab") {
      cancel(false);
    }
  });
  board.addEventListener("focusout", (e) => {
    if (held && e.target === held.card && !board.classList.contains("busy")) cancel(true);
  });

  // The pointer: a card follows it once it has moved a few pixels; the column under it on release
  // is where the lead goes. Controls inside a card keep working as they are.
  let drag = null;
  let draggedAt = 0;
  const columnAt = (card, x, y) => {
    for (const el of document.elementsFromPoint(x, y)) {
      if (card.contains(el)) continue;
      const col = el.closest(".column");
      if (col && board.contains(col)) return col;
    }
    return null;
  };
  board.addEventListener("pointerdown", (e) => {
    if (e.button !== 0 || held || drag) return;
    const card = e.target.closest(".card");
    if (!card || !movable(card) || e.target.closest("select, button, input, label, textarea")) return;
    drag = { card, id: e.pointerId, x: e.clientX, y: e.clientY, active: false };
  });
  board.addEventListener("pointermove", (e) => {
    if (!drag || e.pointerId !== drag.id) return;
    const dx = e.clientX - drag.x;
    const dy = e.clientY - drag.y;
    if (!drag.active) {
      if (Math.abs(dx) + Math.abs(dy) < 6) return;
      drag.active = true;
      drag.card.classList.add("dragging");
      try { drag.card.setPointerCapture(e.pointerId); } catch (_) { /* released already */ }
    }
    e.preventDefault();
    drag.card.style.transform = "translate(" + dx + "px, " + dy + "px)";
    const col = columnAt(drag.card, e.clientX, e.clientY);
    if (col !== drag.over) {
      drag.over = col;
      mark(drag.card, col);
      if (col) announce(drag.card, col);
    }
  });
  const end = (e, dropped) => {
    if (!drag || e.pointerId !== drag.id) return;
    const d = drag;
    drag = null;
    if (!d.active) return;
    draggedAt = Date.now();
    d.card.classList.remove("dragging");
    d.card.style.transform = "";
    mark(null, null);
    const col = dropped ? columnAt(d.card, e.clientX, e.clientY) : null;
    if (!col || col === columnOf(d.card)) return;
    if (allowed(d.card, col)) submit(d.card, col);
    else announce(d.card, col);
  };
  board.addEventListener("pointerup", (e) => end(e, true));
  board.addEventListener("pointercancel", (e) => end(e, false));
  // The click that ends a drag opens nothing; the browser's own dragging of links stays off.
  board.addEventListener("click", (e) => {
    if (Date.now() - draggedAt < 400) {
      e.preventDefault();
      e.stopPropagation();
    }
  }, true);
  board.addEventListener("dragstart", (e) => e.preventDefault());

  // Back on the board after a move: the keyboard goes to the card that moved.
  const focus = board.dataset.focus && document.getElementById("lead-" + board.dataset.focus);
  if (focus) {
    if (!focus.hasAttribute("tabindex")) focus.setAttribute("tabindex", "-1");
    focus.focus();
  }
});
