// Talking to the Relief API with the signed-in key, and showing its problems in words.

import { t } from "./i18n.js";

const KEY = "rahat.key";

export function storedKey() {
  return sessionStorage.getItem(KEY);
}

export function storeKey(key) {
  sessionStorage.setItem(KEY, key);
}

export function forgetKey() {
  sessionStorage.removeItem(KEY);
}

/** The page's element of id `id`. */
export function byId(id) {
  return document.getElementById(id);
}

/** An API answer that was not 2xx: its RFC 9457 problem (title, detail, status). */
export class ProblemError extends Error {
  constructor(status, title, detail) {
    super(detail || title);
    this.status = status;
    this.title = title;
    this.detail = detail;
  }
}

async function problemOf(response) {
  let title = `${response.status} ${response.statusText}`;
  let detail = "";
  try {
    const body = await response.json();
    title = body.title || title;
    detail = body.detail || "";
    if (Array.isArray(body.errors) && body.errors.length) {
      const lines = body.errors.map((e) => [e.loc, e.msg || e.message].flat().filter(Boolean).join(": "));
      detail = [detail, ...lines].filter(Boolean).join("\n");
    }
  } catch {
    // not a problem document: keep the status line
  }
  return new ProblemError(response.status, title, detail);
}

function headers(extra = {}) {
  const key = storedKey();
  return key ? { Authorization: `Bearer ${key}`, ...extra } : extra;
}

/**
 * Call the API: JSON in, JSON (or a Blob with `as: "blob"`, text with `as: "text"`) out.
 * Throws ProblemError for a 4xx/5xx answer and for no answer at all.
 */
export async function api(path, { method = "GET", body, as = "json", signal } = {}) {
  const init = { method, headers: headers(), signal };
  if (body !== undefined) {
    init.headers = headers({ "Content-Type": "application/json" });
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (error) {
    if (error.name === "AbortError") throw error;
    throw new ProblemError(0, t("problem"), t("network_error"));
  }
  if (!response.ok) throw await problemOf(response);
  if (as === "blob") return response.blob();
  if (as === "text") return response.text();
  return response.json();
}

/** Upload a form with progress (fetch has none): resolves with the JSON answer. */
export function upload(path, form, onProgress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", path);
    const key = storedKey();
    if (key) xhr.setRequestHeader("Authorization", `Bearer ${key}`);
    xhr.upload.onprogress = (event) => {
      if (event.lengthComputable) onProgress(Math.round((100 * event.loaded) / event.total));
    };
    xhr.onerror = () => reject(new ProblemError(0, t("problem"), t("network_error")));
    xhr.onload = () => {
      let body = {};
      try {
        body = JSON.parse(xhr.responseText);
      } catch {
        // keep {}
      }
      if (xhr.status >= 200 && xhr.status < 300) resolve(body);
      else reject(new ProblemError(xhr.status, body.title || `${xhr.status}`, body.detail || ""));
    };
    xhr.send(form);
  });
}

/** Show a problem in words in the banner (never only in the console). */
export function showProblem(error) {
  const banner = document.getElementById("problem");
  const title = error instanceof ProblemError ? error.title : t("problem");
  const detail = error instanceof ProblemError ? error.detail : String(error && error.message ? error.message : error);
  document.getElementById("problem-title").textContent = title;
  document.getElementById("problem-detail").textContent = detail;
  banner.hidden = false;
}

export function clearProblem() {
  document.getElementById("problem").hidden = true;
}

/** Save a Blob as a file the browser downloads. */
export function saveBlob(blob, filename) {
  const url = URL.createObjectURL(blob);
  const link = document.createElement("a");
  link.href = url;
  link.download = filename;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}
