// Completion while typing combinations into a job form's textarea (textarea[data-completions]):
// the word under the caret (since the line's start or the last "+" or ",") is matched against the
// options of the field's <datalist> (drug names, with their ids), restricted to the catalog of the
// model chosen in the picker named by data-completions-follow. Matches are listed under the field;
// ArrowUp/ArrowDown move, Tab or a click takes one, Escape closes. Enter is never taken: in a
// textarea it starts the next combination's line.
(function () {
  "use strict";
  const MAX_SHOWN = 8;

  function setUp(area) {
    const list = document.getElementById(area.dataset.completions);
    if (!list) return;
    const follow = document.getElementById("id_" + area.dataset.completionsFollow);
    const all = Array.from(list.options).map((o) => ({ name: o.value, id: o.textContent, catalog: o.dataset.catalog }));
    const box = document.createElement("ul");
    box.className = "completions";
    box.id = area.id + "_completions";
    box.setAttribute("role", "listbox");
    box.hidden = true;
    area.after(box);
    area.setAttribute("aria-autocomplete", "list");
    area.setAttribute("aria-controls", box.id);
    let shown = [], active = -1;

    function catalog() {
      const chosen = follow && follow.selectedOptions ? follow.selectedOptions[0] : null;
      return chosen ? chosen.dataset.catalog || "" : "";
    }

    function word() {
      // The text between the last separator before the caret and the caret.
      const end = area.selectionEnd;
      const before = area.value.slice(0, end);
      const start = Math.max(before.lastIndexOf("\n"), before.lastIndexOf("+"), before.lastIndexOf(",")) + 1;
      const lead = before.slice(start).match(/^\s*/)[0].length;
      return { start: start + lead, end: end, text: before.slice(start + lead) };
    }

    function close() { box.hidden = true; shown = []; active = -1; }

    function paint() {
      box.replaceChildren(...shown.map((d, k) => {
        const li = document.createElement("li");
        li.setAttribute("role", "option");
        li.setAttribute("aria-selected", k === active ? "true" : "false");
        li.textContent = d.name;
        const id = document.createElement("small");
        id.textContent = d.id;
        li.append(id);
        li.addEventListener("mousedown", (event) => { event.preventDefault(); take(d); });
        return li;
      }));
      box.hidden = shown.length === 0;
    }

    function update() {
      const w = word();
      const typed = w.text.trim().toLowerCase();
      const here = catalog();
      if (!typed || !here) { close(); return; }
      const pool = all.filter((d) => d.catalog === here);
      const starts = pool.filter((d) => d.name.toLowerCase().startsWith(typed) || d.id.toLowerCase().startsWith(typed));
      const inside = pool.filter((d) => !starts.includes(d) && d.name.toLowerCase().includes(typed));
      shown = starts.concat(inside).slice(0, MAX_SHOWN);
      // Nothing to offer once the word is a whole name already.
      if (shown.length === 1 && shown[0].name.toLowerCase() === typed) shown = [];
      active = shown.length ? 0 : -1;
      paint();
    }

    function take(d) {
      const w = word();
      area.setRangeText(d.name, w.start, w.end, "end");
      close();
      area.focus();
    }

    area.addEventListener("input", update);
    area.addEventListener("click", update);
    area.addEventListener("blur", close);
    if (follow) follow.addEventListener("change", close);
    area.addEventListener("keydown", (event) => {
      if (box.hidden) return;
      if (event.key === "ArrowDown" || event.key === "ArrowUp") {
        event.preventDefault();
        active = (active + (event.key === "ArrowDown" ? 1 : shown.length - 1)) % shown.length;
        paint();
      } else if (event.key === "Tab" && active >= 0) {
        event.preventDefault();
        take(shown[active]);
      } else if (event.key === "Escape") {
        close();
      }
    });
  }

  document.querySelectorAll("textarea[data-completions]").forEach(setUp);
})();
