// The timeline of recent tasks: one bar per task from its start to its finish (to now while it
// runs), coloured by status, drawn as SVG, with the task's name on its left.

import { byId, formatMillis, formatTime, runMillis, statusClass, svg } from "./dom.js";

const MAX_TASKS = 40;
const WIDTH = 1000;
const LABELS = 190;
const ROW = 18;
const AXIS = 20;
const TICKS = 5;
const NAME_CHARS = 26;

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

function shorten(text) {
  const chars = [...String(text)];
  return chars.length > NAME_CHARS ? chars.slice(0, NAME_CHARS - 1).join("") + "…" : chars.join("");
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
  const scale = (WIDTH - LABELS - 8) / (to - from);
  const parts = [svg("text", { x: 0, y: 12 }, formatTime(new Date(from).toISOString()))];
  for (let i = 0; i <= TICKS; i += 1) {
    const x = LABELS + ((WIDTH - LABELS - 8) * i) / TICKS;
    const label = i === 0 ? "0" : `+${formatMillis(((to - from) * i) / TICKS)}`;
    parts.push(
      svg("line", { class: "grid", x1: x, y1: AXIS - 4, x2: x, y2: height }),
      svg("text", { x, y: 12, "text-anchor": i === TICKS ? "end" : "middle" }, label),
    );
  }
  shown.forEach(({ task, span: s }, i) => {
    const y = AXIS + i * ROW;
    const x = LABELS + (s.start - from) * scale;
    const w = Math.max((s.end - s.start) * scale, 3);
    const name = task.name || task.id || "";
    const title = `${name} · ${task.status || "UNKNOWN"} · ${formatTime(task.start_time)} · ` +
      formatMillis(s.end - s.start);
    parts.push(
      svg("text", { class: "label", x: 0, y: y + ROW - 5 }, shorten(name)),
      svg("rect", {
        class: "bar " + statusClass(task.status),
        x: x.toFixed(1),
        y: y + 3,
        width: w.toFixed(1),
        height: ROW - 6,
        rx: 2,
        dataset: { taskId: task.id },
        on: { click: () => onOpen(task.id) },
      }, svg("title", {}, title)),
    );
  });
  node.replaceChildren(...parts);
}
