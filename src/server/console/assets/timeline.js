// The timeline of recent tasks: one bar per task from its start to its finish (to now while it
// runs), coloured by status, drawn as SVG.

import { byId, formatTime, runMillis, statusClass, svg } from "./dom.js";

const MAX_TASKS = 40;
const WIDTH = 1000;
const ROW = 16;
const LEFT = 0;
const AXIS = 18;

function span(task, now) {
  const start = Date.parse(task.start_time || "");
  if (Number.isNaN(start)) return null;
  let end = Date.parse(task.finish_time || "");
  if (Number.isNaN(end)) {
    const ms = runMillis(task);
    end = ms !== null ? start + ms
      : task.status === "RUNNING" || task.status === "QUEUED" ? Math.max(now, start) : start;
  }
  return { start, end: Math.max(end, start) };
}

/** Draws `tasks` (newest first) into the page's timeline; a click on a bar opens the task. */
export function drawTimeline(tasks, onOpen) {
  const now = Date.now();
  const shown = tasks
    .map((task) => ({ task, span: span(task, now) }))
    .filter((t) => t.span !== null)
    .slice(0, MAX_TASKS)
    .reverse();
  const node = byId("timeline");
  const height = AXIS + Math.max(shown.length, 1) * ROW + 4;
  node.setAttribute("viewBox", `0 0 ${WIDTH} ${height}`);
  node.setAttribute("height", String(height));
  if (shown.length === 0) {
    node.replaceChildren(svg("text", { x: 4, y: 14 }, "no tasks yet"));
    return;
  }
  const from = Math.min(...shown.map((t) => t.span.start));
  const to = Math.max(...shown.map((t) => t.span.end), from + 1);
  const scale = (WIDTH - LEFT - 8) / (to - from);
  const parts = [
    svg("text", { x: LEFT + 2, y: 12 }, formatTime(new Date(from).toISOString())),
    svg("text", { x: WIDTH - 4, y: 12, "text-anchor": "end" }, formatTime(new Date(to).toISOString())),
    svg("line", { class: "grid", x1: LEFT, y1: AXIS - 2, x2: WIDTH, y2: AXIS - 2 }),
  ];
  shown.forEach(({ task, span: s }, i) => {
    const x = LEFT + (s.start - from) * scale;
    const w = Math.max((s.end - s.start) * scale, 3);
    const label = `${task.name || task.id} · ${task.status || "UNKNOWN"} · ${formatTime(task.start_time)}`;
    parts.push(svg("rect", {
      class: "bar " + statusClass(task.status),
      x: x.toFixed(1),
      y: AXIS + i * ROW + 2,
      width: w.toFixed(1),
      height: ROW - 4,
      rx: 2,
      dataset: { taskId: task.id },
      on: { click: () => onOpen(task.id) },
    }, svg("title", {}, label)));
  });
  node.replaceChildren(...parts);
}
