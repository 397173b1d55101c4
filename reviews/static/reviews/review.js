// The review page's live parts. Everything works without it (forms post, the server asks for
// confirmations and refuses repeated pairs, the page reloads at the result); this adds:
// - live updates: each step or sign-off pushed over ws/reviews/<id>/ makes the page fetch its
//   regions rendered by the server (reviews/<id>/live, the page's own templates) and swap them in;
// - focus and scroll to what a post did (the result, or the refused field);
// - a warning as soon as a pair already asked is chosen, before a query is spent on it;
// - a confirmation dialog before finishing (and before accepting a "finish" suggestion);
// - suggestions fetched in place, and substitutes limited to the chosen drug's class.
(function () {
  "use strict";
  var root = document.getElementById("review");
  if (!root) return;

  function byId(id) { return document.getElementById(id); }

  // ── where the eye goes after a post ──────────────────────────────────────
  function focusOn(el) {
    if (!el) return;
    if (!el.hasAttribute("tabindex") && !/^(INPUT|SELECT|TEXTAREA|BUTTON|A)$/.test(el.tagName)) el.setAttribute("tabindex", "-1");
    el.scrollIntoView({block: "center"});
    el.focus({preventScroll: true});
  }
  function initialFocus() {
    var target = root.dataset.focus ? byId(root.dataset.focus) : null;
    if (target) {
      // A refused form: its first invalid field (the error is announced with it), else the form.
      focusOn(target.querySelector("[aria-invalid=true]") || target.querySelector(".errorlist") || target);
    } else if (location.hash === "#last-result") {
      focusOn(byId("last-result"));
    }
  }

  // ── a pair already asked is warned about before it is spent ─────────────
  var query = byId("query-form");
  function askedPair(a, b) {
    if (!a || !b || a === b) return null;
    var cells = document.querySelectorAll("#pairs td[data-severity]");
    for (var i = 0; i < cells.length; i++) {
      var c = cells[i];
      if ((c.dataset.a === a && c.dataset.b === b) || (c.dataset.a === b && c.dataset.b === a)) return c;
    }
    return null;
  }
  function checkRepeat() {
    if (!query) return;
    var a = query.elements.drug_id_1.value, b = query.elements.drug_id_2.value;
    var warning = byId("repeat-warning");
    Array.prototype.forEach.call(document.querySelectorAll("#pairs td.chosen"), function (c) { c.classList.remove("chosen"); });
    var cell = askedPair(a, b);
    if (cell) {
      cell.classList.add("chosen");
      warning.textContent = cell.title.split(":")[0] + " was already asked at step " + cell.dataset.step + " (" +
        cell.dataset.severity + "): asking again spends a query and earns nothing. Tick “Ask again anyway” to spend one.";
    } else {
      warning.textContent = "";
    }
  }
  if (query) {
    query.elements.drug_id_1.addEventListener("change", checkRepeat);
    query.elements.drug_id_2.addEventListener("change", checkRepeat);
    checkRepeat();
  }
  // A click on a pair of the matrix chooses it in the query form.
  document.addEventListener("click", function (event) {
    var cell = event.target.closest ? event.target.closest("#pairs td.pair") : null;
    if (!cell || !query) return;
    query.elements.drug_id_1.value = cell.dataset.a;
    query.elements.drug_id_2.value = cell.dataset.b;
    checkRepeat();
    query.elements.drug_id_1.focus();
  });

  // ── confirmations ────────────────────────────────────────────────────────
  // Each form says which step it was shown at (at_step); the server refuses one whose step has
  // been taken, so a double click acts once. A step shown live (an API client's, say) moves the
  // forms on with it, except one already submitted: its second click must stay refused.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var question = form.dataset.confirm;
    var accepting = !event.submitter || event.submitter.value !== "ignore";
    if (question && accepting && !form.dataset.submitted) {
      if (!window.confirm(question)) { event.preventDefault(); return; }
      if (form.elements.confirmed) form.elements.confirmed.value = "1";
    }
    if (!event.defaultPrevented) form.dataset.submitted = "1";  // a fetch-driven submit stays open
  });
  function keepFormsCurrent(index) {
    Array.prototype.forEach.call(document.querySelectorAll("form input[name=at_step]"), function (input) {
      if (!input.form.dataset.submitted && Number(input.value) < index) input.value = index;
    });
  }

  // ── live updates: the server's own rendering of each region ─────────────
  var fetching = null, again = false, socket = null;
  function refresh() {
    if (fetching) { again = true; return; }
    fetching = fetch(root.dataset.liveUrl, {credentials: "same-origin", headers: {"Accept": "application/json"}})
      .then(function (r) { if (!r.ok) throw new Error(r.status); return r.json(); })
      .then(function (live) {
        Object.keys(live.fragments).forEach(function (id) {
          var region = byId(id);
          if (region && comparable(region.innerHTML) !== comparable(live.fragments[id])) replace(region, live.fragments[id]);
        });
        root.dataset.step = live.step_index;
        keepFormsCurrent(live.step_index);
        var q = byId("query-button"), p = byId("propose-button");
        if (q && live.queries_left <= 0) q.disabled = true;
        if (p && live.interventions_left <= 0) p.disabled = true;
        if (live.done) Array.prototype.forEach.call(document.querySelectorAll("#actions button, #finish-form button"),
          function (b) { b.disabled = true; });
        checkRepeat();
        if (!live.live) stopLive();
      })
      .catch(function () {})
      .then(function () { fetching = null; if (again) { again = false; refresh(); } });
  }
  // Each rendering carries a fresh CSRF token: it is not a change.
  function comparable(html) { return html.replace(/name="csrfmiddlewaretoken" value="[^"]*"/g, ""); }
  // A region is replaced whole, but what someone is typing in it (a comment, a sign-off) and
  // which comment forms are open are carried over, by element id.
  function replace(region, html) {
    var kept = {}, focused = document.activeElement && region.contains(document.activeElement) ? document.activeElement.id : "";
    Array.prototype.forEach.call(region.querySelectorAll("input[id], textarea[id], select[id], details[id]"), function (el) {
      kept[el.id] = el.tagName === "DETAILS" ? el.open : (el.type === "radio" || el.type === "checkbox") ? el.checked : el.value;
    });
    region.innerHTML = html;
    Object.keys(kept).forEach(function (id) {
      var el = byId(id);
      if (!el) return;
      if (el.tagName === "DETAILS") el.open = kept[id];
      else if (el.type === "radio" || el.type === "checkbox") el.checked = kept[id];
      else if (el.type !== "hidden") el.value = kept[id];
    });
    if (focused && byId(focused)) byId(focused).focus();
  }
  function stopLive() {
    // Signed off: nothing will change any more, so the page stops listening and says so.
    var state = byId("live-state");
    if (state) state.parentNode.removeChild(state);
    root.dataset.live = "";
    if (socket) { socket.onclose = null; socket.close(); socket = null; }
  }

  var retry = 500;
  function connect() {
    if (!root.dataset.live) return;
    var scheme = location.protocol === "https:" ? "wss://" : "ws://";
    socket = new WebSocket(scheme + location.host + root.dataset.wsPath);
    var state = byId("live-state");
    socket.onopen = function () {
      if (state) { state.textContent = "live"; state.className = "live on"; }
      refresh();  // whatever happened between the page and the connection
      retry = 500;
    };
    socket.onmessage = function (event) {
      var msg = JSON.parse(event.data);
      if (msg.type === "step" || msg.type === "review") refresh();
    };
    socket.onclose = function () {
      if (!root.dataset.live) return;
      if (state) { state.textContent = "live: reconnecting…"; state.className = "live"; }
      setTimeout(connect, retry); retry = Math.min(retry * 2, 10000);
    };
  }

  // ── suggestions in place ─────────────────────────────────────────────────
  var suggestForm = byId("suggest-form");
  if (suggestForm) {
    suggestForm.addEventListener("submit", function (event) {
      event.preventDefault();
      var token = suggestForm.querySelector("input[name=csrfmiddlewaretoken]").value;
      fetch(suggestForm.action, {
        method: "POST", body: new FormData(suggestForm), credentials: "same-origin",
        headers: {"Accept": "application/json", "X-CSRFToken": token},
      }).then(function (r) { if (!r.ok) throw new Error(r.status); return r.json(); }).then(function (s) {
        var target = byId("suggestion");
        target.innerHTML = s.html;  // rendered by the server with the page's own template
        focusOn(target.querySelector(".suggested-action"));
      }).catch(function () { suggestForm.submit(); });  // fall back to the plain form post
    });
  }

  // ── substitutes: only the options grouped under the chosen drug ─────────
  var target = byId("id_target_drug_id");
  var substitute = document.querySelector("select[data-substitutes]");
  function limitSubstitutes() {
    if (!target || !substitute) return;
    Array.prototype.forEach.call(substitute.querySelectorAll("optgroup"), function (group) {
      var mine = group.label === target.value;
      group.hidden = !mine; group.disabled = !mine;
    });
    var chosen = substitute.selectedOptions[0];
    if (chosen && chosen.parentNode.tagName === "OPTGROUP" && chosen.parentNode.disabled) substitute.value = "";
  }
  if (target) { target.addEventListener("change", limitSubstitutes); limitSubstitutes(); }

  initialFocus();
  connect();
})();
