// The one way the UI talks to the API: JSON in and out, the key in X-API-Key, errors as
// ApiError with the server's one-line `detail`.

import { storedKey } from "./session.js";

export class ApiError extends Error {
  constructor(status, detail) {
    super(detail);
    this.status = status;
    this.detail = detail;
  }
}

const listeners = { unauthorized: [] };

/** Called with the ApiError whenever the server answers 401 (key revoked, or none). */
export function onUnauthorized(fn) {
  listeners.unauthorized.push(fn);
}

export function authHeaders(key = storedKey()) {
  return key ? { "X-API-Key": key } : {};
}

function withQuery(path, query) {
  if (!query) return path;
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(query)) {
    if (value === null || value === undefined || value === "") continue;
    for (const item of [value].flat()) params.append(name, item);
  }
  const text = params.toString();
  return text ? `${path}?${text}` : path;
}

async function failure(response) {
  let detail = `${response.status} ${response.statusText}`;
  try {
    const body = await response.json();
    if (body && typeof body.detail === "string") detail = body.detail;
  } catch {
    // not JSON: the status line says enough
  }
  const error = new ApiError(response.status, detail);
  if (response.status === 401) listeners.unauthorized.forEach((fn) => fn(error));
  return error;
}

/**
 * api("/search", {query: {q: "beach"}}) -> parsed JSON
 * Options: method, query (object; arrays repeat the name), body (JSON), key (overrides the
 * stored key), as: "json" | "blob" | "response", signal.
 */
export async function api(path, options = {}) {
  const { method = "GET", query, body, key, as = "json", signal } = options;
  const headers = { Accept: "application/json", ...authHeaders(key) };
  const init = { method, headers, signal };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(withQuery(path, query), init);
  } catch (error) {
    if (error.name === "AbortError") throw error;
    throw new ApiError(0, "the server cannot be reached");
  }
  if (!response.ok) throw await failure(response);
  if (as === "response") return response;
  if (as === "blob") return response.blob();
  if (response.status === 204) return null;
  return response.json();
}

/**
 * An upload with progress (fetch cannot report it): resolves with the JSON answer.
 * onProgress(sentBytes, totalBytes) while the body goes out.
 */
export function uploadFile(file, fields, onProgress) {
  return new Promise((resolve, reject) => {
    const form = new FormData();
    for (const [name, value] of Object.entries(fields)) form.append(name, value);
    form.append("file", file, file.name);
    const request = new XMLHttpRequest();
    request.open("POST", "/assets");
    for (const [name, value] of Object.entries(authHeaders())) {
      request.setRequestHeader(name, value);
    }
    request.setRequestHeader("Accept", "application/json");
    request.upload.addEventListener("progress", (event) => {
      if (event.lengthComputable) onProgress(event.loaded, event.total);
    });
    request.addEventListener("load", () => {
      let body = null;
      try {
        body = JSON.parse(request.responseText);
      } catch {
        body = null;
      }
      if (request.status >= 200 && request.status < 300) resolve(body);
      else {
        const detail =
          body && body.detail ? body.detail : `${request.status} ${request.statusText}`;
        const error = new ApiError(request.status, detail);
        if (request.status === 401) listeners.unauthorized.forEach((fn) => fn(error));
        reject(error);
      }
    });
    request.addEventListener("error", () =>
      reject(new ApiError(0, "the server cannot be reached")),
    );
    request.send(form);
  });
}
