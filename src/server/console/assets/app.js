// The console: sign-in, then the list, the timeline, the task view and the SQL box.

import { clearCredentials, listTasks, loadCredentials, saveCredentials } from "./api.js";
import { byId } from "./dom.js";
import { TaskList } from "./list.js";
import { hideTask, showTask } from "./task.js";
import { drawTimeline } from "./timeline.js";
import { setUpSql } from "./sql.js";

let credentials = null;
let list = null;

function open(id) {
  if (credentials) showTask(credentials, id);
}

function signOut(message) {
  if (list) list.close();
  list = null;
  credentials = null;
  clearCredentials();
  hideTask();
  byId("console").hidden = true;
  byId("sign-out").hidden = true;
  byId("whoami").textContent = "";
  byId("sign-in").hidden = false;
  byId("sign-in-error").textContent = message || "";
}

function enter(signedIn) {
  credentials = signedIn;
  byId("sign-in").hidden = true;
  byId("sign-in-error").textContent = "";
  byId("console").hidden = false;
  byId("sign-out").hidden = false;
  byId("whoami").textContent = signedIn.key ? "signed in with an API key" : `signed in as ${signedIn.user}`;
  list = new TaskList(signedIn, {
    onOpen: open,
    onChange: (tasks) => {
      drawTimeline(tasks, open);
      const ns = byId("sql-namespace");
      if (!ns.value && tasks.length > 0 && tasks[0].namespace) ns.value = tasks[0].namespace;
    },
    onAuthFailure: (message) => signOut(`Signed out: ${message}`),
  });
  list.start();
}

/** Checks the credentials with one small listing before entering. */
async function signIn(candidate) {
  try {
    await listTasks(candidate, {}, 1, 1);
  } catch (error) {
    const why = error.status === 401 ? "Refused" : "Sign-in failed";
    signOut(`${why}: ${error.message}`);
    return;
  }
  saveCredentials(candidate);
  enter(candidate);
}

function start() {
  byId("sign-in-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const key = byId("api-key").value;
    const user = byId("username").value.trim();
    const password = byId("password").value;
    byId("api-key").value = "";
    byId("password").value = "";
    if (!key && !user) {
      byId("sign-in-error").textContent = "Enter an API key, or a user and password.";
      return;
    }
    signIn(key ? { key } : { user, password });
  });
  byId("sign-out").addEventListener("click", () => signOut(""));
  byId("task-close").addEventListener("click", hideTask);
  let typing = null;
  const changed = () => {
    clearTimeout(typing);
    typing = setTimeout(() => list && list.reset(), 250);
  };
  byId("filter-status").addEventListener("change", () => list && list.reset());
  byId("filter-namespace").addEventListener("input", changed);
  byId("filter-search").addEventListener("input", changed);
  byId("filters").addEventListener("submit", (event) => event.preventDefault());
  setUpSql(() => credentials, (taskId) => {
    if (list) list.refresh();
    open(taskId);
  });
  const saved = loadCredentials();
  if (saved) signIn(saved);
}

start();
