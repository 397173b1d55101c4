// The review page's live parts: the step feed over the episode's WebSocket channel group,
// suggestions rendered in place, and substitute choices limited to the chosen drug's class.
// Everything works without it (forms post and the page reloads); this only avoids reloads.
(function () {
  "use strict";
  var root = document.getElementById("review");
  if (!root) return;

  function text(el, value) { if (el) el.textContent = value; }
  function fixed(x) { return (x === null || x === undefined) ? "—" : Number(x).toFixed(3); }
  function cell(tr, value) { var td = document.createElement("td"); td.textContent = value; tr.appendChild(td); return td; }

  function summary(a) {
    if (a.action_type === "query_ddi") return "query " + a.drug_id_1 + " + " + a.drug_id_2;
    if (a.action_type === "propose_intervention") {
      return a.intervention_type + " " + a.target_drug_id + (a.proposed_new_drug_id ? " → " + a.proposed_new_drug_id : "");
    }
    return "finish review";
  }

  function result(a, obs) {
    if (obs.last_action_error) return "refused: " + obs.last_action_error;
    if (a.action_type === "query_ddi") {
      var q = obs.last_query_result || {};
      return (q.severity || "?") + " (" + (q.recommendation || "") + ")";
    }
    if (a.action_type === "propose_intervention") {
      var last = obs.interventions[obs.interventions.length - 1] || {};
      var delta = -(last.risk_delta || 0);
      var r = "risk Δ " + (delta >= 0 ? "+" : "") + delta.toFixed(3);
      return last.proposed_new_drug_id ? "now " + last.proposed_new_drug_id + "; " + r : r;
    }
    return obs.grader_score !== null ? "score " + fixed(obs.grader_score) : "finished";
  }

  function renderMedications(meds) {
    var body = document.querySelector("#medications tbody");
    if (!body) return;
    body.textContent = "";
    var acb = 0;
    meds.forEach(function (m) {
      var tr = document.createElement("tr");
      tr.dataset.drug = m.drug_id;
      cell(tr, m.drug_id); cell(tr, m.generic_name); cell(tr, m.atc_class);
      cell(tr, m.dose_mg + " mg " + m.frequency);
      cell(tr, m.is_high_risk_elderly ? "high risk" : "");
      cell(tr, m.beers_flags.join(" "));
      cell(tr, m.anticholinergic_score); cell(tr, m.monitored ? "yes" : "");
      acb += m.anticholinergic_score;
      body.appendChild(tr);
    });
    text(document.getElementById("acb-total"), acb);
  }

  function onStep(msg) {
    var body = document.querySelector("#history tbody");
    if (!body || body.querySelector('tr[data-index="' + msg.index + '"]')) return;  // already shown
    var obs = msg.payload.observation;
    var tr = document.createElement("tr");
    tr.dataset.index = msg.index;
    tr.className = "fresh";
    cell(tr, msg.index); cell(tr, msg.actor); cell(tr, summary(msg.action)); cell(tr, result(msg.action, obs));
    cell(tr, fixed(msg.payload.reward)); cell(tr, fixed(obs.current_risk));
    body.appendChild(tr);
    text(document.getElementById("budget-queries"), obs.remaining_query_budget);
    text(document.getElementById("budget-interventions"), obs.remaining_intervention_budget);
    text(document.getElementById("step-index"), obs.step_index);
    text(document.getElementById("current-risk"), fixed(obs.current_risk));
    text(document.getElementById("grader-score"), fixed(obs.grader_score));
    renderMedications(obs.current_medications);
    keepFormsCurrent(msg.index);
    if (msg.payload.done) text(document.getElementById("session-status"), "finished (reload to sign off or see the outcome)");
  }

  // Each form says which step it was shown at (at_step); the server refuses one whose step has
  // been taken, so a double click acts once. A step shown live (an API client's, say) moves the
  // forms on with it, except one already submitted: its second click must stay refused.
  document.addEventListener("submit", function (event) {
    if (!event.defaultPrevented) event.target.dataset.submitted = "1";  // a fetch-driven submit stays open
  });
  function keepFormsCurrent(index) {
    Array.prototype.forEach.call(document.querySelectorAll("form input[name=at_step]"), function (input) {
      if (!input.form.dataset.submitted && Number(input.value) < index) input.value = index;
    });
  }

  var retry = 500;
  function connect() {
    var scheme = location.protocol === "https:" ? "wss://" : "ws://";
    var socket = new WebSocket(scheme + location.host + root.dataset.wsPath);
    var state = document.getElementById("live-state");
    socket.onopen = function () { retry = 500; text(state, "live"); state.className = "live on"; };
    socket.onmessage = function (event) {
      var msg = JSON.parse(event.data);
      if (msg.type === "step") onStep(msg);
    };
    socket.onclose = function () {
      text(state, "live: reconnecting…"); state.className = "live";
      setTimeout(connect, retry); retry = Math.min(retry * 2, 10000);
    };
  }
  connect();

  // Suggestions: fetched and shown in place, with the same accept/ignore form as without script.
  var suggestForm = document.getElementById("suggest-form");
  var box = document.getElementById("suggestion-box");
  if (suggestForm && box) {
    suggestForm.addEventListener("submit", function (event) {
      event.preventDefault();
      var token = suggestForm.querySelector("input[name=csrfmiddlewaretoken]").value;
      fetch(suggestForm.action, {
        method: "POST", body: new FormData(suggestForm), credentials: "same-origin",
        headers: {"Accept": "application/json", "X-CSRFToken": token},
      }).then(function (r) { if (!r.ok) throw new Error(r.status); return r.json(); }).then(function (s) {
        var target = document.getElementById("suggestion");
        target.textContent = "";
        var p = document.createElement("p");
        p.append("Suggested: ");
        var b = document.createElement("b"); b.className = "suggested-action"; b.textContent = s.text; p.appendChild(b);
        if (s.action.rationale) { var sm = document.createElement("small"); sm.textContent = " (" + s.action.rationale + ")"; p.appendChild(sm); }
        var form = document.createElement("form");
        form.method = "post"; form.action = box.dataset.answerUrl; form.className = "inline";
        [["csrfmiddlewaretoken", token], ["suggestion_id", s.id]].forEach(function (pair) {
          var input = document.createElement("input"); input.type = "hidden"; input.name = pair[0]; input.value = pair[1];
          form.appendChild(input);
        });
        [["accept", "Accept", ""], ["ignore", "Ignore", "secondary"]].forEach(function (d) {
          var btn = document.createElement("button"); btn.type = "submit"; btn.name = "decision"; btn.value = d[0];
          btn.textContent = d[1]; btn.className = d[2]; form.appendChild(btn); form.append(" ");
        });
        // Who answered, and why the LLM was not used when it fell back (as the page renders it).
        var meta = document.createElement("p"); meta.className = "meta"; meta.id = "suggestion-source";
        meta.textContent = "by " + (s.suggester === "llm" ? "the LLM (" + s.model + ")"
          : s.suggester.indexOf("policy:") === 0 ? "the trained policy " + s.model : "the rule-based suggester");
        if (s.fallback_reason) {
          var fb = document.createElement("span"); fb.className = "fallback"; fb.id = "suggestion-fallback";
          fb.textContent = "The LLM" + (s.model ? " (" + s.model + ")" : "") + " was not used: " + s.fallback_reason;
          meta.appendChild(document.createElement("br")); meta.appendChild(fb);
        }
        target.appendChild(p); target.appendChild(meta); target.appendChild(form);
      }).catch(function () { suggestForm.submit(); });  // fall back to the plain form post
    });
  }

  // Substitutes: show only the options grouped under the chosen drug.
  var target = document.getElementById("id_target_drug_id");
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
})();
