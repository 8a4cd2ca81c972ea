// The task list: the /tasks filters, pages loaded as the list is scrolled, and a live refresh of
// the first page that brings in new tasks and updates the statuses of the ones shown.

import { listTasks } from "./api.js";
import { byId, el, firstLine, formatMillis, formatTime, runMillis, statusBadge } from "./dom.js";

const PER_PAGE = 25;
const REFRESH_MS = 1000;

function startOf(task) {
  const t = Date.parse(task.start_time || "");
  return Number.isNaN(t) ? 0 : t;
}

export class TaskList {
  constructor(credentials, { onOpen, onChange, onAuthFailure }) {
    this.credentials = credentials;
    this.onOpen = onOpen;
    this.onChange = onChange;
    this.onAuthFailure = onAuthFailure;
    this.tasks = new Map();
    this.pages = 0;
    this.totalPages = 1;
    this.totalItems = 0;
    this.generation = 0;
    this.loading = false;
    this.timer = null;
    this.observer = new IntersectionObserver((entries) => {
      if (entries.some((e) => e.isIntersecting)) this.more();
    }, { root: byId("task-scroll") });
    this.observer.observe(byId("list-end"));
  }

  filters() {
    return {
      status: byId("filter-status").value,
      namespace: byId("filter-namespace").value.trim(),
      search: byId("filter-search").value.trim(),
    };
  }

  /** Starts over with the current filters. */
  reset() {
    this.generation += 1;
    this.tasks = new Map();
    this.pages = 0;
    this.totalPages = 1;
    this.loading = false;
    this.render();
    return this.more();
  }

  start() {
    this.stop();
    this.timer = setInterval(() => this.refresh(), REFRESH_MS);
    return this.reset();
  }

  stop() {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  close() {
    this.stop();
    this.observer.disconnect();
    this.generation += 1;
  }

  async fetch(page) {
    const generation = this.generation;
    try {
      const answer = await listTasks(this.credentials, this.filters(), page, PER_PAGE);
      if (generation !== this.generation) return null;
      byId("list-error").textContent = "";
      return answer;
    } catch (error) {
      if (generation !== this.generation) return null;
      if (error.status === 401) this.onAuthFailure(error.message);
      else byId("list-error").textContent = `Listing tasks failed: ${error.message}`;
      return null;
    }
  }

  merge(answer) {
    for (const task of answer.tasks) if (task.id) this.tasks.set(task.id, task);
    const p = answer.pagination;
    if (typeof p.total_pages === "number") this.totalPages = p.total_pages;
    if (typeof p.total_items === "number") this.totalItems = p.total_items;
    this.render();
  }

  /** The next page, if there is one and none is on its way. */
  async more() {
    if (this.loading || this.pages >= this.totalPages) return;
    this.loading = true;
    const generation = this.generation;
    const answer = await this.fetch(this.pages + 1);
    if (generation !== this.generation) return;
    this.loading = false;
    if (!answer) return;
    this.pages += 1;
    this.merge(answer);
    // Still room below the last row: keep filling.
    const end = byId("list-end").getBoundingClientRect();
    const view = byId("task-scroll").getBoundingClientRect();
    if (end.top < view.bottom && this.pages < this.totalPages) this.more();
  }

  /** The first page again: new tasks come in at the top, shown ones get their new status. */
  async refresh() {
    if (this.pages === 0) return this.more();
    const answer = await this.fetch(1);
    if (answer) this.merge(answer);
  }

  /** The tasks shown, newest first. */
  sorted() {
    return [...this.tasks.values()].sort((a, b) => startOf(b) - startOf(a));
  }

  render() {
    const tasks = this.sorted();
    const rows = tasks.map((task) => el("tr", {
      dataset: { taskId: task.id },
      on: { click: () => this.onOpen(task.id) },
    },
      el("td", {}, statusBadge(task.status)),
      el("td", { class: "name" }, task.name || ""),
      el("td", {}, task.namespace || ""),
      el("td", {}, task.type || ""),
      el("td", {}, formatTime(task.start_time)),
      el("td", {}, formatMillis(runMillis(task))),
      el("td", { class: "sql" }, firstLine(task.sql_query)),
    ));
    byId("task-rows").replaceChildren(...rows);
    byId("list-count").textContent = this.pages === 0 ? "" : `(${tasks.length} of ${this.totalItems})`;
    byId("list-end").textContent = this.pages === 0
      ? "loading…"
      : this.pages < this.totalPages ? "scroll for more" : tasks.length === 0 ? "no tasks" : "";
    const namespaces = [...new Set(tasks.map((t) => t.namespace).filter(Boolean))].sort();
    byId("namespaces").replaceChildren(...namespaces.map((n) => el("option", { value: n })));
    this.onChange(tasks);
  }
}
