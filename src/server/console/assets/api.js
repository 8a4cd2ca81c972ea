// Every call the console makes: the public v1 routes, with the credentials the user signed in
// with (kept in this tab's sessionStorage only; never a cookie).

const STORAGE_KEY = "tiledb-tasks-console";
const API_KEY_HEADER = "X-TILEDB-REST-API-KEY";
const TASK_ID_HEADER = "X-TILEDB-CLOUD-TASK-ID";

/** An answer that was not a success, with the server's message. */
export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

/** The credentials saved in this tab, or null. */
export function loadCredentials() {
  try {
    const saved = JSON.parse(sessionStorage.getItem(STORAGE_KEY) || "null");
    return saved && (saved.key || saved.user) ? saved : null;
  } catch {
    return null;
  }
}

export function saveCredentials(credentials) {
  sessionStorage.setItem(STORAGE_KEY, JSON.stringify(credentials));
}

export function clearCredentials() {
  sessionStorage.removeItem(STORAGE_KEY);
}

function basic(user, password) {
  const bytes = new TextEncoder().encode(`${user}:${password}`);
  let binary = "";
  for (const b of bytes) binary += String.fromCharCode(b);
  return "Basic " + btoa(binary);
}

function headers(credentials) {
  if (credentials.key) return { [API_KEY_HEADER]: credentials.key };
  return { Authorization: basic(credentials.user, credentials.password || "") };
}

async function send(credentials, path, init) {
  const options = init || {};
  return fetch(path, {
    ...options,
    headers: { ...headers(credentials), ...(options.headers || {}) },
    credentials: "omit",
    cache: "no-store",
    redirect: "error",
  });
}

async function failure(response) {
  let message = `HTTP ${response.status}`;
  try {
    const body = await response.json();
    if (body && typeof body.message === "string") message = body.message;
  } catch {
    // not an Error body: keep the status
  }
  return new ApiError(response.status, message);
}

/** One page of `GET /v1/tasks` with these filters. */
export async function listTasks(credentials, filters, page, perPage) {
  const query = new URLSearchParams();
  for (const [key, value] of Object.entries(filters)) if (value) query.set(key, value);
  query.set("page", String(page));
  query.set("per_page", String(perPage));
  const response = await send(credentials, `/v1/tasks?${query}`);
  if (!response.ok) throw await failure(response);
  const data = await response.json();
  return {
    tasks: Array.isArray(data.array_tasks) ? data.array_tasks : [],
    pagination: data.pagination_metadata || {},
  };
}

/** `GET /v1/task/{id}`. */
export async function getTask(credentials, id) {
  const response = await send(credentials, `/v1/task/${encodeURIComponent(id)}`);
  if (!response.ok) throw await failure(response);
  return response.json();
}

/**
 * `GET /v1/task/{id}/result`: `{ rows }` for a JSON result, `{ pending: true }` while the task
 * runs, `{ other: contentType }` for a result that is not JSON.
 */
export async function getResult(credentials, id) {
  const response = await send(credentials, `/v1/task/${encodeURIComponent(id)}/result`);
  if (response.status === 202) return { pending: true };
  if (!response.ok) throw await failure(response);
  const type = response.headers.get("Content-Type") || "";
  if (!type.startsWith("application/json")) return { other: type };
  return { rows: await response.json() };
}

function pause(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * `POST /v1/sql/{namespace}`, storing the result: `{ taskId, rows }`. When the server answers
 * before the query has run (204 with the task id), the stored result is polled until it is ready.
 */
export async function runSql(credentials, namespace, query) {
  const response = await send(credentials, `/v1/sql/${encodeURIComponent(namespace)}`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ query, store_results: true, result_format: "json" }),
  });
  const taskId = response.headers.get(TASK_ID_HEADER);
  if (!response.ok) {
    const error = await failure(response);
    error.taskId = taskId;
    throw error;
  }
  if (response.status === 200) return { taskId, rows: await response.json() };
  if (!taskId) return { taskId, rows: [] };
  for (let delay = 100; ; delay = Math.min(delay * 2, 2000)) {
    const result = await getResult(credentials, taskId);
    if (!result.pending) return { taskId, rows: result.rows || [] };
    await pause(delay);
  }
}
