// Hash routes: #/search?q=beach&type=video, #/asset/ID, #/folders?folder=a/b. The URL is
// the state: a page reads its parameters from the route and changes them with `go`.

export function parseHash(hash = location.hash) {
  const text = hash.replace(/^#\/?/, "");
  const [path, query = ""] = text.split(/\?(.*)/s, 2);
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  return { name: parts[0] || "search", parts: parts.slice(1), params: new URLSearchParams(query) };
}

/** The hash of a route: href(["asset", id], {q: "beach"}); empty values are left out. */
export function href(parts, params = {}) {
  const path = [parts].flat().map(encodeURIComponent).join("/");
  const search = new URLSearchParams();
  const entries = params instanceof URLSearchParams ? [...params] : Object.entries(params);
  for (const [name, value] of entries) {
    for (const item of [value].flat()) {
      if (item !== null && item !== undefined && item !== "") search.append(name, item);
    }
  }
  const query = search.toString();
  return `#/${path}${query ? `?${query}` : ""}`;
}

/** Go to a route (a new history entry, so Back returns). */
export function go(parts, params = {}) {
  const target = href(parts, params);
  if (target !== location.hash) location.hash = target;
}
