// The planners' page: sign-in with an API key, the views the role may open, language and
// number grouping. Each view lives in its own module.

import { api, byId, clearProblem, forgetKey, showProblem, storeKey, storedKey } from "./api.js";
import { applyLanguage, grouping, language, setGrouping, t } from "./i18n.js";
import { CompareView } from "./compare.js";
import { PlanView } from "./plan.js";
import { RunsView } from "./runs.js";

const VIEW_IDS = ["plan", "compare", "runs"];

/** State the page shares with its views and exposes to tests (window.rahat). */
const state = {
  me: null,
  views: {},
  current: null,
};
window.rahat = state;

function showSignedOut() {
  state.me = null;
  byId("signin").hidden = false;
  byId("views").hidden = true;
  byId("whoami").hidden = true;
  byId("sign-out").hidden = true;
  byId("view-denied").hidden = true;
  for (const id of VIEW_IDS) byId(`view-${id}`).hidden = true;
}

function allowed(view) {
  return Boolean(state.me) && state.me.views.includes(view);
}

async function openView(view) {
  if (!state.me) return;
  const wanted = VIEW_IDS.includes(view) ? view : state.me.views[0];
  for (const id of VIEW_IDS) byId(`view-${id}`).hidden = true;
  for (const button of document.querySelectorAll("#views button")) {
    button.classList.toggle("active", button.dataset.view === wanted);
  }
  if (!allowed(wanted)) {
    byId("view-denied").hidden = false;
    state.current = null;
    return;
  }
  byId("view-denied").hidden = true;
  byId(`view-${wanted}`).hidden = false;
  state.current = wanted;
  try {
    await state.views[wanted].open();
  } catch (error) {
    showProblem(error);
  }
}

function viewFromHash() {
  return location.hash.replace(/^#\/?/, "");
}

async function signIn(key) {
  clearProblem();
  storeKey(key);
  try {
    state.me = await api("/me");
  } catch (error) {
    forgetKey();
    showSignedOut();
    showProblem(error);
    return;
  }
  byId("signin").hidden = true;
  byId("views").hidden = false;
  byId("sign-out").hidden = false;
  byId("whoami").hidden = false;
  byId("whoami").textContent = t("signed_in_as", state.me);
  for (const button of document.querySelectorAll("#views button")) {
    button.hidden = !allowed(button.dataset.view);
  }
  state.views = {
    plan: new PlanView(state),
    compare: new CompareView(state),
    runs: new RunsView(state),
  };
  await openView(viewFromHash());
}

function relabel() {
  applyLanguage(language());
  if (state.me) byId("whoami").textContent = t("signed_in_as", state.me);
  for (const view of Object.values(state.views)) view.relabel?.();
}

function start() {
  byId("lang").value = language();
  byId("grouping").value = grouping();
  applyLanguage(language());
  byId("lang").addEventListener("change", (event) => {
    applyLanguage(event.target.value);
    relabel();
  });
  byId("grouping").addEventListener("change", (event) => {
    setGrouping(event.target.value);
    relabel();
  });
  byId("problem-close").addEventListener("click", clearProblem);
  byId("signin-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const key = byId("api-key").value.trim();
    byId("api-key").value = "";
    signIn(key);
  });
  byId("sign-out").addEventListener("click", () => {
    // Forget the key, then start afresh: no figure of this session stays in the page.
    forgetKey();
    for (const view of Object.values(state.views)) view.close?.();
    history.replaceState(null, "", location.pathname);
    location.reload();
  });
  for (const button of document.querySelectorAll("#views button")) {
    button.addEventListener("click", () => {
      location.hash = button.dataset.view;
    });
  }
  window.addEventListener("hashchange", () => openView(viewFromHash()));
  window.addEventListener("unhandledrejection", (event) => showProblem(event.reason));
  showSignedOut();
  const key = storedKey();
  if (key) signIn(key);
}

start();
