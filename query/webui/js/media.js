// Posters and media for <img> and <video>. Elements cannot send the API key, so where the
// server wants one the file is fetched with it and shown from a blob: URL. With no key (an
// open server) the element loads the URL itself, and a video streams with Range requests.

import { api } from "./api.js";
import { session } from "./session.js";

const MAX_CACHED = 300; // blob URLs kept for posters seen recently
const cache = new Map(); // url -> Promise<string | null>

function remember(url, promise) {
  cache.set(url, promise);
  while (cache.size > MAX_CACHED) {
    const [oldest, pending] = cache.entries().next().value;
    cache.delete(oldest);
    pending.then((blobUrl) => blobUrl && URL.revokeObjectURL(blobUrl));
  }
  return promise;
}

/** A URL an element may load: the URL itself on an open server, else a blob: URL. */
export function loadable(url) {
  if (session.anonymous) return Promise.resolve(url);
  const cached = cache.get(url);
  if (cached) return cached;
  const promise = api(url, { as: "blob" })
    .then((blob) => URL.createObjectURL(blob))
    .catch(() => null);
  return remember(url, promise);
}

/** Shows the asset's poster in `img`; on none, marks the frame as without a poster. */
export function showPoster(img, assetId) {
  img.closest(".poster")?.classList.add("loading");
  return loadable(`/assets/${encodeURIComponent(assetId)}/thumbnail`).then((src) => {
    const frame = img.closest(".poster");
    frame?.classList.remove("loading");
    if (!src) {
      frame?.classList.add("missing");
      img.hidden = true;
      return null;
    }
    img.addEventListener("error", () => frame?.classList.add("missing"), { once: true });
    img.src = src;
    return src;
  });
}

/** The original file for a player; a whole blob where the server wants a key. */
export async function mediaSource(assetId) {
  const url = `/assets/${encodeURIComponent(assetId)}/media`;
  if (session.anonymous) return url;
  const blob = await api(url, { as: "blob" });
  return URL.createObjectURL(blob);
}

/** Saves what `url` answers as a file named `name` (the key goes with the request). */
export async function download(url, name) {
  const blob = await api(url, { as: "blob" });
  const link = document.createElement("a");
  link.href = URL.createObjectURL(blob);
  link.download = name;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 10_000);
}
