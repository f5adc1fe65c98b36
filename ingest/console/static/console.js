// alert-ingest console: forms and buttons that call the public API (mounted under /console/api/v1/
// for the signed-in session), copy buttons, and self-refreshing regions. Every value from the
// server is put in the page as text (textContent), never as markup.
"use strict";

function csrfToken() {
  const meta = document.querySelector('meta[name="csrf-token"]');
  return meta ? meta.content : "";
}

async function callApi(method, url, body) {
  const init = {method, credentials: "same-origin",
    headers: {"Accept": "application/json", "X-CSRF-Token": csrfToken()}};
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(url, init);
  } catch (err) {
    return {ok: false, status: 0, data: {detail: "The server could not be reached."}};
  }
  const text = await response.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch (err) { data = {detail: text.slice(0, 300)}; }
  return {ok: response.ok, status: response.status, data};
}

// {"templates": {"web": {"title": ["Invalid template: line 2: ..."]}}} -> ["templates.web.title: ..."]
function errorLines(data, path) {
  if (data === null || data === undefined) return [];
  if (typeof data === "string") return [path ? path + ": " + data : data];
  if (Array.isArray(data)) return data.flatMap((item) => errorLines(item, path));
  if (typeof data === "object") {
    return Object.entries(data).flatMap(([key, value]) =>
      errorLines(value, key === "detail" ? path : (path ? path + "." + key : key)));
  }
  return [String(data)];
}

function showErrors(box, result) {
  if (!box) return;
  box.replaceChildren();
  const lines = errorLines(result.data, "");
  if (!lines.length) lines.push("Request failed (" + result.status + ").");
  for (const line of lines) {
    const li = document.createElement("li");
    li.textContent = line;
    box.append(li);
  }
  box.hidden = false;
}

function clearErrors(box) {
  if (box) { box.replaceChildren(); box.hidden = true; }
}

function parseLabels(text) {
  return text.split("\n").map((line) => line.trim()).filter(Boolean).map((line) => {
    const at = line.indexOf("=");
    const key = at < 0 ? line : line.slice(0, at).trim();
    const value = at < 0 ? "" : line.slice(at + 1).trim();
    return {key: {name: key}, value: {name: value}};
  });
}

function fieldValue(el) {
  const kind = el.dataset.kind;
  if (kind === "labels") return parseLabels(el.value);
  if (kind === "int") return el.value === "" ? null : Number.parseInt(el.value, 10);
  if (kind === "nullable") return el.value === "" ? null : el.value;
  if (kind === "optional") return el.value === "" ? undefined : el.value;
  if (kind === "multi") {
    const chosen = Array.from(el.selectedOptions, (option) => option.value);
    return chosen.length ? chosen : null;
  }
  if (el.type === "checkbox") return el.checked;
  return el.value;
}

function formBody(form) {
  const body = {};
  for (const el of form.elements) {
    if (!el.name || el.dataset.skip !== undefined || el.type === "submit" || el.type === "button") continue;
    const path = el.name.split(".");
    let node = body;
    const value = fieldValue(el);
    if (value === undefined) continue;
    for (const part of path.slice(0, -1)) node = node[part] = node[part] || {};
    node[path[path.length - 1]] = value;
  }
  return body;
}

// A timed refresh leaves a region alone while focus is inside it (a keyboard user stays put) or
// while the user has a disclosure open in it; a refresh after the user's own action always runs.
async function refreshRegions(force) {
  const regions = document.querySelectorAll("[data-refresh-url]");
  for (const region of regions) {
    try {
      const response = await fetch(region.dataset.refreshUrl, {credentials: "same-origin"});
      if (!response.ok) continue;
      const html = await response.text();
      if (!force && (region.contains(document.activeElement) || region.querySelector("details[open]"))) continue;
      const parsed = new DOMParser().parseFromString(html, "text/html");
      region.replaceChildren(...parsed.body.childNodes);
    } catch (err) { /* the next tick tries again */ }
  }
  return regions.length;
}

async function after(then, data) {
  if (!then || then === "reload") { window.location.reload(); return; }
  if (then === "refresh") {
    if (!(await refreshRegions(true))) window.location.reload();
    return;
  }
  if (then.startsWith("go:")) {
    const id = data && typeof data.id === "string" ? data.id : "";
    window.location.assign(then.slice(3).replace("{id}", encodeURIComponent(id)));
    return;
  }
  document.dispatchEvent(new CustomEvent("console:" + then, {detail: data}));
}

document.addEventListener("submit", async (event) => {
  const form = event.target;
  if (!(form instanceof HTMLFormElement) || !form.dataset.api) return;
  event.preventDefault();
  const box = form.querySelector(".errors");
  clearErrors(box);
  const result = await callApi(form.dataset.method || "POST", form.dataset.api, formBody(form));
  if (result.ok) await after(form.dataset.then, result.data);
  else showErrors(box, result);
});

document.addEventListener("click", async (event) => {
  const button = event.target instanceof Element ? event.target.closest("button[data-api]") : null;
  if (button) {
    if (button.dataset.confirm && button.dataset.armed !== "1") {
      button.dataset.armed = "1";
      button.dataset.label = button.textContent;
      button.textContent = button.dataset.confirm;
      setTimeout(() => {
        if (button.dataset.armed === "1") { button.dataset.armed = ""; button.textContent = button.dataset.label; }
      }, 6000);
      return;
    }
    button.disabled = true;
    const body = button.dataset.body ? JSON.parse(button.dataset.body) : undefined;
    const result = await callApi(button.dataset.method || "POST", button.dataset.api, body);
    button.disabled = false;
    if (result.ok) { await after(button.dataset.then, result.data); return; }
    button.title = errorLines(result.data, "").join("; ");
    button.classList.add("failed");
    return;
  }
  const copy = event.target instanceof Element ? event.target.closest("button[data-copy]") : null;
  if (copy) {
    const source = document.getElementById(copy.dataset.copy);
    if (!source) return;
    const text = source.textContent;
    try { await navigator.clipboard.writeText(text); } catch (err) {
      const range = document.createRange();
      range.selectNodeContents(source);
      const selection = window.getSelection();
      selection.removeAllRanges();
      selection.addRange(range);
      document.execCommand("copy");
    }
    copy.textContent = "Copied";
    setTimeout(() => { copy.textContent = "Copy"; }, 1500);
  }
});

document.addEventListener("DOMContentLoaded", () => {
  const region = document.querySelector("[data-refresh-url]");
  if (!region) return;
  const every = Number.parseInt(region.dataset.refreshEvery || "5000", 10);
  setInterval(() => { if (!document.hidden) refreshRegions(false); }, every);
});

window.alertIngest = {callApi, formBody, errorLines, showErrors, clearErrors};
