// Omnisearch: one box (and the mode once semantic search exists), filters by folder, type
// and tag kind, a grid of posters with the tier and why each matched, pages. The URL holds
// the whole query, so a search can be bookmarked, shared and gone back to.

import { api } from "../api.js";
import {
  badge,
  emptyState,
  errorBox,
  folderTree,
  loading,
  tierBadge,
  tierMeaning,
} from "../components.js";
import { h, replace } from "../dom.js";
import { decimal, duration, folderLabel, plural } from "../format.js";
import { showPoster } from "../media.js";
import { go, href } from "../router.js";

export const title = "Search";
export const PAGE_SIZE = 24;
export const LAST_SEARCH = "smarttags.lastSearch"; // sessionStorage: "Back to results"

const KINDS = [
  ["object", "Objects and scenes"],
  ["action", "Actions"],
  ["custom", "Custom"],
];
const TYPES = [
  ["", "Any"],
  ["video", "Videos"],
  ["image", "Images"],
];
const MODES = [
  ["hybrid", "Hybrid"],
  ["keyword", "Keyword"],
  ["semantic", "Semantic"],
];
const FIELD_NAMES = {
  title: "title",
  keywords: "keywords",
  file_name: "file name",
  description: "description",
};

function readState(params) {
  const page = Number.parseInt(params.get("page") || "1", 10);
  return {
    q: params.get("q") || "",
    like: params.get("like") || "", // an asset id: assets that look like it (issue 13)
    mode: params.get("mode") || "",
    folder: params.get("folder") || "",
    type: params.get("type") || "",
    kind: params.getAll("kind"),
    page: Number.isFinite(page) && page > 0 ? page : 1,
  };
}

function routeParams(state) {
  return {
    q: state.q,
    like: state.like,
    mode: state.mode,
    folder: state.folder,
    type: state.type,
    kind: state.kind,
    page: state.page > 1 ? state.page : "",
  };
}

function whyMatched(hit) {
  const parts = [];
  const fields = (hit.matched?.metadata || []).map((f) => FIELD_NAMES[f] || f);
  if (fields.length)
    parts.push(
      h(
        "span",
        { class: "why-part" },
        h("span", { class: "why-label" }, "Matched "),
        fields.join(", "),
      ),
    );
  const tags = hit.matched?.tags || [];
  if (tags.length) {
    parts.push(
      h(
        "span",
        { class: "why-part" },
        h("span", { class: "why-label" }, "Tags "),
        tags.map((t) =>
          h("span", { class: `chip ${t.source}`, title: `${t.kind} tag, ${t.source}` }, t.tag),
        ),
      ),
    );
  }
  if (hit.similarity !== null && hit.similarity !== undefined) {
    parts.push(
      h(
        "span",
        { class: "why-part" },
        h("span", { class: "why-label" }, "Similarity "),
        decimal(hit.similarity),
      ),
    );
  }
  if (hit.moments && hit.moments.length) {
    const best = hit.moments[0];
    parts.push(
      h(
        "span",
        { class: "why-part" },
        h("span", { class: "why-label" }, "Moments "),
        `${hit.moments.length}, best at ${duration(best.start_s)}`,
      ),
    );
  }
  return parts.length
    ? h("p", { class: "why" }, h("span", { class: "visually-hidden" }, "Why it matched: "), parts)
    : null;
}

function searchIcon() {
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("class", "omnibox-icon");
  svg.setAttribute("aria-hidden", "true");
  svg.setAttribute("focusable", "false");
  const path = document.createElementNS("http://www.w3.org/2000/svg", "path");
  path.setAttribute(
    "d",
    "M10.5 3a7.5 7.5 0 0 1 5.96 12.05l4.24 4.25-1.4 1.4-4.25-4.24A7.5 7.5 0 1 1 10.5 3Zm0 2a5.5 5.5 0 1 0 0 11 5.5 5.5 0 0 0 0-11Z",
  );
  svg.append(path);
  return svg;
}

function card(hit, state) {
  const img = h("img", { alt: "", loading: "lazy", decoding: "async" });
  const name = hit.title || hit.path.split("/").pop();
  const card = h(
    "li",
    { class: "result", dataset: { assetId: hit.id } },
    h(
      "div",
      { class: "poster" },
      img,
      h(
        "span",
        { class: "poster-fallback", "aria-hidden": "true" },
        hit.media_type === "video" ? "▶" : "◼",
      ),
      h(
        "div",
        { class: "poster-badges" },
        tierBadge(hit.tier),
        badge(hit.media_type === "video" ? "Video" : "Image", "type"),
      ),
    ),
    h(
      "div",
      { class: "result-body" },
      h(
        "h3",
        { class: "result-title" },
        h("a", { href: href(["asset", hit.id], { q: state.q }), class: "stretched" }, name),
      ),
      h("p", { class: "result-path", title: hit.path }, hit.path),
      hit.tier
        ? h("p", { class: "visually-hidden" }, `Tier ${hit.tier}: ${tierMeaning(hit.tier)}`)
        : null,
      whyMatched(hit),
    ),
  );
  showPoster(img, hit.id);
  return card;
}

export function mount(container, route) {
  let state = readState(route.params);
  let pending = null; // the search in flight (aborted by a newer one)
  let folders = null;
  let likeName = null; // {id, name} of the asset whose look-alikes are listed

  const input = h("input", {
    id: "q",
    type: "search",
    name: "q",
    value: state.q,
    placeholder: "Search titles, keywords and smart tags…",
    autocomplete: "off",
    "aria-label": "Omnisearch",
  });
  const mode = h(
    "select",
    { id: "mode", name: "mode", "aria-label": "Search mode", onchange: () => submit({ like: "" }) },
    MODES.map(([value, label]) => h("option", { value }, label)),
  );
  const modeBox = h("div", { class: "mode", hidden: true }, mode);
  const form = h(
    "form",
    {
      class: "omnibox",
      role: "search",
      onsubmit: (event) => (event.preventDefault(), submit({ like: "" })),
    },
    searchIcon(),
    input,
    modeBox,
    h("button", { type: "submit", class: "primary" }, "Search"),
  );

  const typeRadios = TYPES.map(([value, label]) => {
    const id = `type-${value || "any"}`;
    return h(
      "div",
      { class: "option" },
      h("input", {
        type: "radio",
        name: "type",
        id,
        value,
        onchange: () => submit({ type: value }),
      }),
      h("label", { for: id }, label),
    );
  });
  const kindBoxes = KINDS.map(([value, label]) => {
    const id = `kind-${value}`;
    return h(
      "div",
      { class: "option" },
      h("input", {
        type: "checkbox",
        name: "kind",
        id,
        value,
        onchange: () => submit({ kind: checkedKinds() }),
      }),
      h("label", { for: id }, label),
    );
  });
  const treeBox = h("div", { class: "tree-box" }, loading("Loading folders…"));
  const clearButton = h(
    "button",
    { type: "button", class: "link", onclick: () => submit({ folder: "", type: "", kind: [] }) },
    "Clear filters",
  );
  const filters = h(
    "aside",
    { class: "filters", "aria-label": "Filters" },
    h("div", { class: "filters-head" }, h("h2", {}, "Filters"), clearButton),
    h("div", { class: "filter" }, h("fieldset", {}, h("legend", {}, "Type"), typeRadios)),
    h(
      "div",
      { class: "filter" },
      h("fieldset", {}, h("legend", {}, "Tag kind"), kindBoxes),
      h("p", { class: "hint" }, "Only tags of these kinds match; none ticked: all."),
    ),
    h(
      "section",
      { class: "filter", "aria-labelledby": "folder-heading" },
      h("h3", { id: "folder-heading", class: "legend" }, "Folder"),
      treeBox,
    ),
  );
  const results = h("section", { class: "results", "aria-labelledby": "results-heading" });

  replace(
    container,
    h("h1", { class: "visually-hidden" }, "Search"),
    form,
    h("div", { class: "search-layout" }, filters, results),
  );

  function checkedKinds() {
    return kindBoxes
      .map((box) => box.querySelector("input"))
      .filter((box) => box.checked)
      .map((box) => box.value);
  }

  function submit(changes = {}) {
    const next = {
      ...state,
      q: input.value.trim(),
      mode: modeBox.hidden ? state.mode : mode.value,
      ...changes,
      page: changes.page || 1,
    };
    go(["search"], routeParams(next));
  }

  function syncControls() {
    if (document.activeElement !== input) input.value = state.q;
    for (const box of typeRadios) {
      const radio = box.querySelector("input");
      radio.checked = radio.value === state.type;
    }
    for (const box of kindBoxes) {
      const check = box.querySelector("input");
      check.checked = state.kind.includes(check.value);
    }
    clearButton.hidden = !(state.folder || state.type || state.kind.length);
    if (state.mode) mode.value = state.mode;
    renderTree();
  }

  function renderTree() {
    if (!folders) return;
    replace(
      treeBox,
      folderTree(folders, state.folder, (folder) => submit({ folder })),
    );
  }

  async function loadFolders() {
    try {
      folders = (await api("/folders/tree")).folders;
      renderTree();
    } catch (error) {
      replace(
        treeBox,
        h("p", { class: "hint" }, "Folders cannot be listed: ", error.detail || String(error)),
      );
    }
  }

  function header(body) {
    const total = body.total.value;
    const count =
      body.total.relation === "gte"
        ? `More than ${total.toLocaleString()} results`
        : plural(total, "result");
    const heading = state.like
      ? h(
          "h2",
          { id: "results-heading" },
          count,
          " like ",
          h("a", { href: href(["asset", state.like]) }, likeName?.name || state.like),
        )
      : state.q
        ? h("h2", { id: "results-heading" }, count, " for ", h("q", {}, state.q))
        : h(
            "h2",
            { id: "results-heading" },
            "Newest assets ",
            h("span", { class: "muted" }, `(${total.toLocaleString()})`),
          );
    const scope = [];
    if (state.folder) scope.push(`in ${folderLabel(state.folder)}`);
    if (state.type) scope.push(state.type === "video" ? "videos only" : "images only");
    if (state.kind.length) scope.push(`${state.kind.join(" and ")} tags`);
    const terms =
      body.terms && body.terms.length
        ? h(
            "p",
            { class: "terms" },
            "Searched for ",
            body.terms.map((t) => h("span", { class: "chip term" }, t)),
          )
        : null;
    const used =
      body.mode && state.q ? h("span", { class: "muted" }, ` · ${body.mode} search`) : null;
    return h(
      "div",
      { class: "results-head" },
      heading,
      scope.length || used ? h("p", { class: "muted scope" }, scope.join(", "), used) : null,
      terms,
      (body.notices || []).map((n) => h("p", { class: "notice info" }, n)),
    );
  }

  function pager(body) {
    const reachable = Math.min(body.total.value, 10_000);
    const pages = Math.max(1, Math.ceil(reachable / PAGE_SIZE));
    if (pages <= 1 && state.page <= 1) return null;
    const link = (page, label, rel) =>
      page < 1 || page > pages
        ? h("span", { class: "button ghost disabled", "aria-disabled": "true" }, label)
        : h(
            "a",
            { class: "button ghost", href: href(["search"], routeParams({ ...state, page })), rel },
            label,
          );
    return h(
      "nav",
      { class: "pager", "aria-label": "Pages" },
      link(state.page - 1, "← Previous", "prev"),
      h(
        "span",
        { class: "pager-status", "aria-current": "page" },
        `Page ${state.page} of ${pages.toLocaleString()}`,
      ),
      link(state.page + 1, "Next →", "next"),
    );
  }

  async function search() {
    if (pending) pending.abort();
    const control = new AbortController();
    pending = control;
    results.setAttribute("aria-busy", "true");
    if (!results.firstChild) replace(results, loading("Searching…"));
    // by example: the asset's look-alikes, under the same filters
    const path = state.like ? `/assets/${encodeURIComponent(state.like)}/similar` : "/search";
    const query = {
      q: state.like ? null : state.q,
      mode: state.like ? null : state.mode,
      folder: state.folder,
      type: state.type,
      kind: state.kind,
      limit: PAGE_SIZE,
      offset: (state.page - 1) * PAGE_SIZE,
    };
    try {
      const body = await api(path, { query, signal: control.signal });
      if (state.like && likeName?.id !== state.like) {
        const found = await api(`/assets/${encodeURIComponent(state.like)}`).catch(() => null);
        likeName = { id: state.like, name: found ? found.title || found.file_name : state.like };
      }
      if (pending !== control) return;
      const semantic = body.semantic && body.semantic.available;
      modeBox.hidden = !semantic;
      if (semantic) mode.value = state.mode || body.mode || "hybrid";
      const grid = body.hits.length
        ? h(
            "ul",
            { class: "grid", "aria-label": "Results" },
            body.hits.map((hit) => card(hit, state)),
          )
        : emptyState(
            state.q ? "Nothing matched" : "No assets here yet",
            state.q
              ? "Try other words, or fewer filters."
              : "Upload videos and images, or index a folder with the CLI.",
          );
      replace(results, header(body), grid, pager(body));
      sessionStorage.setItem(LAST_SEARCH, location.hash || "#/search");
    } catch (error) {
      if (error.name === "AbortError") return;
      replace(results, errorBox(error, "The search failed."));
    } finally {
      if (pending === control) {
        pending = null;
        results.removeAttribute("aria-busy");
      }
    }
  }

  syncControls();
  loadFolders();
  search();

  return {
    update(next) {
      const before = state;
      state = readState(next.params);
      syncControls();
      search();
      if (before.page !== state.page) results.scrollIntoView({ block: "start" });
    },
    destroy() {
      if (pending) pending.abort();
    },
  };
}
