// Template playground: every edit (debounced) posts the payload and the edited templates to the
// integration's preview endpoint and shows what the worker would decide. All output is text.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  const form = document.getElementById("playground");
  if (!form) return;
  const {callApi, formBody, showErrors, clearErrors} = window.alertIngest;
  const payloadBox = document.getElementById("payload");
  const state = document.getElementById("preview-state");
  const errors = document.getElementById("preview-errors");
  const recent = document.getElementById("recent");
  let timer = null;
  let sequence = 0;

  const text = (id, value) => { document.getElementById(id).textContent = value; };
  const items = (id, lines, className) => {
    const list = document.getElementById(id);
    list.replaceChildren(...lines.map((line) => {
      const li = document.createElement("li");
      li.textContent = line;
      if (className) li.className = className;
      return li;
    }));
  };

  function signal(matched, rendered) {
    const said = rendered === null || rendered === undefined ? "" : " (rendered " + JSON.stringify(rendered) + ")";
    return (matched ? "matches" : "does not match") + said;
  }

  function show(result) {
    const trace = result.trace;
    text("pv-key", trace.own_group ? "(own group: " + (trace.own_group_reason || "no key") + ")" : String(trace.grouping_key));
    text("pv-resolve", signal(trace.resolve_signal, trace.resolve_text));
    text("pv-ack", signal(trace.acknowledge_signal, trace.acknowledge_text));
    const tried = (trace.route.tried || []).map((t, i) =>
      (i + 1) + ". " + t.route_id + " (" + t.routing_type + "): " + (t.matched ? "matched" : "no") + ", " + t.reason + (t.error ? "; error: " + t.error : ""));
    text("pv-route", (trace.route.route_id ? "route " + trace.route.route_id : "none") + (tried.length ? " — tried: " + tried.join(" | ") : ""));
    items("pv-labels", trace.labels.map((l) => l.key + " = " + l.value + " (" + l.source + ")")
      .concat(trace.dropped_labels.map((l) => "dropped " + l.key + ": " + l.reason)));
    const issues = trace.issues.concat(result.channel_issues);
    if (issues.length) items("pv-issues", issues.map((i) => i.template + " (" + i.kind + "): " + i.message), "problem");
    else items("pv-issues", ["None."]);
    const holder = document.getElementById("pv-channels");
    holder.replaceChildren(...Object.entries(result.channels).map(([name, rendered]) => {
      const block = document.createElement("div");
      block.className = "channel";
      block.dataset.channel = name;
      const heading = document.createElement("h4");
      heading.textContent = name;
      block.append(heading);
      for (const part of ["title", "message", "image_url"]) {
        if (rendered[part] === null || rendered[part] === undefined) continue;
        const pre = document.createElement("pre");
        pre.className = "rendered-" + part;
        pre.textContent = rendered[part];
        block.append(pre);
      }
      return block;
    }));
  }

  async function preview() {
    const mine = ++sequence;
    let payload;
    try { payload = JSON.parse(payloadBox.value || "null"); } catch (err) {
      showErrors(errors, {status: 400, data: {payload: ["Not valid JSON: " + err.message]}});
      state.textContent = "";
      return;
    }
    state.textContent = "updating…";
    const body = formBody(form);
    body.payload = payload;
    delete body.name;
    const result = await callApi("POST", form.dataset.preview, body);
    if (mine !== sequence) return;
    state.textContent = result.ok ? "up to date" : "";
    form.dataset.previewed = String(mine);
    if (!result.ok) { showErrors(errors, result); return; }
    clearErrors(errors);
    show(result.data);
  }

  function soon() {
    clearTimeout(timer);
    timer = setTimeout(preview, 300);
  }

  form.addEventListener("input", soon);
  if (recent) {
    recent.addEventListener("change", () => {
      const source = document.getElementById("recent-" + recent.value);
      if (source) payloadBox.value = source.value;
      soon();
    });
  }
  document.addEventListener("console:saved", () => {
    const saved = document.getElementById("save-state");
    if (saved) saved.textContent = "Saved.";
    preview();
  });
  preview();
});
