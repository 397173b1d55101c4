// Live progress for the job pages: poll /jobs/progress.json for the unfinished jobs on the page;
// on a detail page also refresh the plots, and reload once the job ends (final tables, log).
(function () {
  "use strict";
  const TERMINAL = new Set(["succeeded", "failed", "cancelled"]);
  const bars = () => Array.from(document.querySelectorAll(".job-progress"));
  const head = document.querySelector(".job-head");
  let ticks = 0;

  function paint(el, job) {
    el.dataset.status = job.status;
    const fill = el.querySelector("progress.fill");
    fill.value = job.progress;
    fill.className = "fill " + job.status;
    el.querySelector(".pct").textContent = Math.round(job.progress) + "%";
    const status = el.querySelector(".status");
    status.textContent = job.status;
    status.className = "status " + job.status;
    el.querySelector(".stage").textContent = job.stage || "";
    const ranFor = document.querySelector('.ran-for[data-job-id="' + job.id + '"]');
    if (ranFor && job.duration_s !== null) ranFor.textContent = Math.round(job.duration_s) + " s";
  }

  async function refreshPanel() {
    const panel = document.getElementById("job-panel");
    if (!head || !panel) return;
    const resp = await fetch(head.dataset.panelUrl, { credentials: "same-origin" });
    if (resp.ok) panel.innerHTML = await resp.text();
  }

  async function poll() {
    const open = bars().filter((el) => !TERMINAL.has(el.dataset.status));
    if (!open.length) return;
    const ids = open.map((el) => el.dataset.jobId).join(",");
    try {
      const resp = await fetch("/jobs/progress.json?ids=" + ids, { credentials: "same-origin" });
      if (resp.ok) {
        const byId = new Map((await resp.json()).jobs.map((j) => [String(j.id), j]));
        for (const el of open) {
          const job = byId.get(el.dataset.jobId);
          if (!job) continue;
          paint(el, job);
          // A job that ends: its page (or the list, for its result column) reloads once.
          if (TERMINAL.has(job.status)) { window.location.reload(); return; }
        }
      }
      ticks += 1;
      if (head && ticks % 2 === 0) await refreshPanel();  // every 3 s: log, plots, tables
    } catch (e) { /* the server is restarting: try again at the next tick */ }
    setTimeout(poll, 1500);
  }
  setTimeout(poll, 1500);
})();

// Sortable result tables (table.sortable): a click on a column's header sorts by it, numbers as
// numbers ("—" last), again to reverse. Delegated, so tables the panel refresh brings in work too.
(function () {
  "use strict";
  function key(cell) {
    const text = cell.textContent.trim();
    const n = parseFloat(text.replace(/^'/, ""));
    return Number.isFinite(n) && /^'?[-+]?[0-9.]/.test(text) ? n : text.toLowerCase();
  }
  document.addEventListener("click", (event) => {
    const button = event.target.closest("table.sortable button.sort");
    if (!button) return;
    const th = button.closest("th");
    const table = th.closest("table");
    const col = Number(button.dataset.col);
    const ascending = th.getAttribute("aria-sort") !== "ascending";
    table.querySelectorAll("th").forEach((h) => h.removeAttribute("aria-sort"));
    th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
    const body = table.tBodies[0];
    const rows = Array.from(body.rows);
    rows.sort((a, b) => {
      const x = key(a.cells[col]), y = key(b.cells[col]);
      const xn = typeof x === "number", yn = typeof y === "number";
      if (xn !== yn) return xn ? -1 : 1;  // numbers before "—" and text, whichever the direction
      const c = x < y ? -1 : x > y ? 1 : 0;
      return ascending ? c : -c;
    });
    rows.forEach((r) => body.appendChild(r));
  });
})();

// The evaluation form's agent picker: a trained policy fills in the task and catalog it was
// trained on (the server does the same when they are left out of an API request).
(function () {
  "use strict";
  const picker = document.querySelector("select.agent-picker");
  if (!picker) return;
  picker.addEventListener("change", () => {
    const chosen = picker.selectedOptions[0];
    for (const [attr, field] of [["task", "id_task_id"], ["catalog", "id_catalog"]]) {
      const value = chosen && chosen.dataset[attr];
      const select = document.getElementById(field);
      if (value && select && Array.from(select.options).some((o) => o.value === value)) select.value = value;
    }
  });
})();
