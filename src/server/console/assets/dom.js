// Building the page from data, as text only. Nothing here (or anywhere in the console) parses a
// string as HTML: strings become text nodes, attributes are set one by one.

const SVG_NS = "http://www.w3.org/2000/svg";

function fill(node, props, children) {
  for (const [key, value] of Object.entries(props || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.setAttribute("class", value);
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key === "on") {
      for (const [event, handler] of Object.entries(value)) node.addEventListener(event, handler);
    } else node.setAttribute(key, String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

/** An HTML element: `el("td", { class: "sql" }, "text", otherNode)`. */
export function el(tag, props, ...children) {
  return fill(document.createElement(tag), props, children);
}

/** An SVG element, the same way. */
export function svg(tag, props, ...children) {
  return fill(document.createElementNS(SVG_NS, tag), props, children);
}

/** The element with this id (the page's own ids only). */
export function byId(id) {
  return document.getElementById(id);
}

/** A status as a class-name suffix: only the API's upper-case letters and underscores. */
export function statusClass(status) {
  return "status-" + String(status || "UNKNOWN").replace(/[^A-Z_]/g, "");
}

/** A coloured status badge. */
export function statusBadge(status) {
  return el("span", { class: "status " + statusClass(status) }, status || "UNKNOWN");
}

function pad(n) {
  return String(n).padStart(2, "0");
}

/** An RFC 3339 time as local `YYYY-MM-DD HH:MM:SS`, or "" when absent. */
export function formatTime(value) {
  if (!value) return "";
  const t = new Date(value);
  if (Number.isNaN(t.getTime())) return String(value);
  return `${t.getFullYear()}-${pad(t.getMonth() + 1)}-${pad(t.getDate())} ` +
    `${pad(t.getHours())}:${pad(t.getMinutes())}:${pad(t.getSeconds())}`;
}

/** A task's run time in milliseconds: `duration` (nanoseconds), else finish minus start. */
export function runMillis(task) {
  if (typeof task.duration === "number") return task.duration / 1e6;
  if (task.start_time && task.finish_time) {
    return new Date(task.finish_time) - new Date(task.start_time);
  }
  return null;
}

/** Milliseconds, readable: `850 ms`, `2.4 s`, `3 min 5 s`. */
export function formatMillis(ms) {
  if (ms === null || ms === undefined || Number.isNaN(ms)) return "";
  if (ms < 10) return `${ms.toFixed(1)} ms`;
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60000) return `${(ms / 1000).toFixed(1)} s`;
  const s = Math.round(ms / 1000);
  return `${Math.floor(s / 60)} min ${s % 60} s`;
}

/** The first non-empty line of a query. */
export function firstLine(text) {
  if (!text) return "";
  const line = String(text).split(/\r?\n/).find((l) => l.trim() !== "");
  return line === undefined ? "" : line.trim();
}

/** A cell's value as text: NULL, JSON for nested values, the value otherwise. */
function cell(value) {
  if (value === null || value === undefined) return el("td", { class: "null" }, "NULL");
  if (typeof value === "object") return el("td", {}, JSON.stringify(value));
  return el("td", {}, String(value));
}

/**
 * SQL rows (objects keyed by column) as a table of at most `limit` rows, with a line saying how
 * many there were.
 */
export function rowsTable(rows, limit) {
  const shown = rows.slice(0, limit);
  const columns = [];
  for (const row of shown) {
    if (row && typeof row === "object" && !Array.isArray(row)) {
      for (const key of Object.keys(row)) if (!columns.includes(key)) columns.push(key);
    }
  }
  const head = el("tr", {}, columns.map((c) => el("th", {}, c)));
  const body = shown.map((row) =>
    el("tr", {}, Array.isArray(row) || typeof row !== "object" || row === null
      ? [cell(row)]
      : columns.map((c) => cell(row[c]))));
  const count = rows.length === 1 ? "1 row" : `${rows.length} rows`;
  const note = rows.length > shown.length ? `first ${shown.length} of ${count}` : count;
  return [
    el("p", { class: "hint row-count" }, note),
    el("table", { class: "result" }, el("thead", {}, head), el("tbody", {}, body)),
  ];
}
