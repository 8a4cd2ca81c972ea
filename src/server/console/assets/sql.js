// The SQL box: runs a query in a namespace (through POST /v1/sql) and shows its rows.

import { runSql } from "./api.js";
import { byId, rowsTable } from "./dom.js";

const SHOWN_ROWS = 200;

/** Wires the SQL form; `onRan(taskId)` is told of each task it ran. */
export function setUpSql(getCredentials, onRan) {
  const form = byId("sql-form");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const namespace = byId("sql-namespace").value.trim();
    const query = byId("sql-query").value;
    const status = byId("sql-status");
    const error = byId("sql-error");
    const output = byId("sql-output");
    error.textContent = "";
    output.replaceChildren();
    if (!namespace || !query.trim()) {
      error.textContent = "A namespace and a query are needed.";
      return;
    }
    byId("sql-run").disabled = true;
    status.textContent = "running…";
    try {
      const { taskId, rows } = await runSql(getCredentials(), namespace, query);
      status.textContent = taskId ? `task ${taskId}` : "";
      output.replaceChildren(...rowsTable(Array.isArray(rows) ? rows : [rows], SHOWN_ROWS));
      if (taskId) onRan(taskId);
    } catch (e) {
      status.textContent = e.taskId ? `task ${e.taskId}` : "";
      error.textContent = e.message;
      if (e.taskId) onRan(e.taskId);
    } finally {
      byId("sql-run").disabled = false;
    }
  });
}
