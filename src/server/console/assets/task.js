// The task view: the full SQL and its parameters, timings, the error of a failed task, and the
// first rows of its stored result.

import { getResult, getTask } from "./api.js";
import { byId, el, formatMillis, formatTime, rowsTable, runMillis, statusBadge } from "./dom.js";

const FIRST_ROWS = 50;
let shown = 0;

function facts(task) {
  const items = [
    ["Id", task.id],
    ["Status", statusBadge(task.status)],
    ["Namespace", task.namespace],
    ["User", task.username],
    ["Type", task.type],
    ["Start", formatTime(task.start_time)],
    ["Finish", formatTime(task.finish_time)],
    ["Duration", formatMillis(runMillis(task))],
    ["Result format", task.result_format],
  ];
  return el("dl", {}, items
    .filter(([, value]) => value !== undefined && value !== null && value !== "")
    .map(([name, value]) => [el("dt", {}, name), el("dd", {}, value)]));
}

async function result(credentials, task) {
  try {
    const answer = await getResult(credentials, task.id);
    if (answer.pending) return el("p", { class: "hint" }, "The task is still running.");
    if (answer.other) return el("p", { class: "hint" }, `A ${answer.other} result (not shown).`);
    if (!Array.isArray(answer.rows)) return el("pre", {}, JSON.stringify(answer.rows));
    return el("div", { class: "rows", id: "task-rows-result" }, rowsTable(answer.rows, FIRST_ROWS));
  } catch (error) {
    return el("p", { class: "hint" }, `No result: ${error.message}`);
  }
}

/** Shows task `id` in the task view. */
export async function showTask(credentials, id) {
  const ticket = ++shown;
  const view = byId("task-view");
  const detail = byId("task-detail");
  view.hidden = false;
  byId("task-title").textContent = "Task";
  detail.replaceChildren(el("p", { class: "hint" }, "loading…"));
  let task;
  try {
    task = await getTask(credentials, id);
  } catch (error) {
    if (ticket === shown) detail.replaceChildren(el("p", { class: "error" }, error.message));
    return;
  }
  const parts = [facts(task)];
  if (task.status === "FAILED" || task.status_message) {
    parts.push(el("h3", {}, "Error"), el("pre", { class: "error", id: "task-error" }, task.status_message || ""));
  }
  parts.push(el("h3", {}, "SQL"), el("pre", { id: "task-sql" }, task.sql_query || ""));
  const init = task.sql_init_commands || [];
  if (init.length > 0) parts.push(el("h3", {}, "Init commands"), el("pre", {}, init.join("\n")));
  const params = task.sql_parameters || [];
  if (params.length > 0) {
    parts.push(el("h3", {}, "Parameters"), el("pre", { id: "task-params" }, JSON.stringify(params)));
  }
  parts.push(el("h3", {}, "Result"));
  const rows = await result(credentials, task);
  if (ticket !== shown) return;
  byId("task-title").textContent = task.name ? `Task ${task.name}` : `Task ${task.id}`;
  detail.replaceChildren(...parts, rows);
  view.scrollIntoView({ block: "nearest" });
}

export function hideTask() {
  shown += 1;
  byId("task-view").hidden = true;
  byId("task-detail").replaceChildren();
}
