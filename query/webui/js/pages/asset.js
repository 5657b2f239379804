// One asset: its player, its metadata (editable by editors), its smart tags strongest first
// with Manage Tags, a timeline per tag, semantic moments, and its history.

import { api } from "../api.js";
import { badge, confidenceBar, errorBox, errorText, loading, toast } from "../components.js";
import { h, newId, replace } from "../dom.js";
import { bytes, dateTime, decimal, duration } from "../format.js";
import { loadable, mediaSource } from "../media.js";
import { href } from "../router.js";
import { can } from "../session.js";
import { LAST_SEARCH } from "./search.js";

export const title = "Asset";

const DONE = {
  remove: "Removed",
  promote: "Promoted",
  add: "Added",
  restore: "Restored",
  undo: "Undid",
};
const STATUS_KIND = {
  tagged: "success",
  catalogued: "neutral",
  queued: "info",
  pending: "info",
  skipped: "warning",
  failed: "danger",
};

function byConfidence(a, b) {
  return b.confidence - a.confidence || a.tag.localeCompare(b.tag);
}

function auditLine(entry) {
  const tag = h("strong", {}, entry.tag);
  switch (entry.action) {
    case "remove":
      return ["Removed ", tag];
    case "promote":
      return ["Promoted ", tag];
    case "add":
      return ["Added ", tag];
    case "restore":
      return ["Restored ", tag];
    case "undo":
      return ["Undid the change of ", tag, ` (${entry.before} → ${entry.after})`];
    case "edit":
      return [
        "Changed the ",
        entry.tag,
        " from ",
        entry.before ? h("q", {}, entry.before) : h("em", {}, "nothing"),
        " to ",
        entry.after ? h("q", {}, entry.after) : h("em", {}, "nothing"),
      ];
    default:
      return [`${entry.action} `, tag];
  }
}

export function mount(container, route) {
  const assetId = route.parts[0] || "";
  const query = route.params.get("q") || "";
  const path = `/assets/${encodeURIComponent(assetId)}`;
  const editor = can("editor");
  const blobs = []; // blob: URLs made for this page, revoked on leaving
  let asset = null;
  let thresholds = {}; // tag -> threshold, when the server tells (GET /tags/thresholds)
  let player = null;

  const back = sessionStorage.getItem(LAST_SEARCH) || "#/search";
  replace(
    container,
    h("p", { class: "crumbs" }, h("a", { href: back }, "← Back to results")),
    h("h1", {}, "Asset"),
    loading(),
  );

  // ---- the player -----------------------------------------------------------------------

  function seek(seconds) {
    if (!player || player.tagName !== "VIDEO") return;
    player.currentTime = seconds;
    player.focus();
  }

  function playerFigure() {
    const frame = h("div", { class: "player-frame" });
    const caption = h("figcaption", { class: "muted" });
    const figure = h("figure", { class: "player" }, frame, caption);
    const label = asset.title || asset.file_name;
    if (asset.media_type === "video") {
      player = h("video", {
        controls: true,
        preload: "metadata",
        playsinline: true,
        "aria-label": `Video: ${label}`,
      });
      frame.append(player);
      loadable(`${path}/thumbnail`).then((poster) => poster && (player.poster = poster));
    } else {
      player = h("img", { alt: label });
      frame.append(player);
    }
    mediaSource(asset.id)
      .then((src) => {
        if (src.startsWith("blob:")) blobs.push(src);
        player.src = src;
      })
      .catch(async (error) => {
        caption.textContent =
          error.status === 404
            ? "The original file is not in the library; this is its poster."
            : `The file cannot be loaded: ${errorText(error)}`;
        if (asset.media_type !== "video") {
          const poster = await loadable(`${path}/thumbnail`);
          if (poster) player.src = poster;
        }
      });
    return figure;
  }

  // ---- timelines ------------------------------------------------------------------------

  function timeline(name, spans, describe) {
    const length = asset.duration_s;
    const track = h("div", { class: "timeline-track" });
    for (const span of spans) {
      const [start, end] = span;
      const label = describe(span);
      const mark = h("button", {
        type: "button",
        class: "segment",
        "aria-label": label,
        title: label,
        onclick: () => seek(start),
      });
      mark.style.left = `${(100 * start) / length}%`;
      mark.style.width = `${Math.max((100 * (end - start)) / length, 0)}%`;
      track.append(mark);
    }
    return h("div", { class: "timeline", role: "group", "aria-label": name }, track);
  }

  function tagTimeline(row) {
    if (asset.media_type !== "video" || !asset.duration_s || !row.segments.length) return null;
    return timeline(
      `Where ${row.tag} appears`,
      row.segments,
      ([start, end]) => `${row.tag}, ${duration(start)} to ${duration(end)}`,
    );
  }

  // ---- Manage Tags ----------------------------------------------------------------------

  const tagsBody = h("div", { class: "tags-body" });
  const removedBox = h("div", { class: "removed" });
  const historyBox = h("div", { class: "history" });

  async function moderate(action, tag) {
    try {
      const done =
        action === "undo"
          ? await api(`${path}/tags/undo`, { method: "POST" })
          : await api(`${path}/tags`, { method: "POST", body: { action, tag } });
      renderTags(done.tags, done.removed);
      toast(
        done.changed
          ? `${DONE[done.action] || done.action} ${done.tag}`
          : `${done.tag} was already ${done.after}`,
      );
      loadHistory();
      const again =
        tagsBody.querySelector(`[data-tag="${CSS.escape(done.tag)}"] button`) ||
        removedBox.querySelector(`[data-tag="${CSS.escape(done.tag)}"] button`);
      (again || document.getElementById("tags-heading")).focus();
    } catch (error) {
      toast(errorText(error), "error");
    }
  }

  function actions(row) {
    if (!editor) return null;
    const buttons = [];
    if (row.source !== "promoted") {
      buttons.push(
        h(
          "button",
          {
            type: "button",
            class: "small",
            "aria-label": `Promote ${row.tag}`,
            onclick: () => moderate("promote", row.tag),
          },
          "Promote",
        ),
      );
    }
    buttons.push(
      h(
        "button",
        {
          type: "button",
          class: "small danger",
          "aria-label": `Remove ${row.tag}`,
          onclick: () => moderate("remove", row.tag),
        },
        "Remove",
      ),
    );
    return h("div", { class: "row-actions" }, buttons);
  }

  function tagRow(row, video) {
    const threshold = thresholds[row.tag] ?? null;
    const notes = [];
    if (row.suggested)
      notes.push(badge("suggested", "warning", "below its threshold: a candidate for review"));
    else if (!row.effective)
      notes.push(badge("below threshold", "muted", "search does not use it"));
    return h(
      "tr",
      { dataset: { tag: row.tag }, class: row.effective ? null : "weak" },
      h(
        "th",
        { scope: "row" },
        h("span", { class: "tag-name" }, row.tag),
        h(
          "span",
          { class: "tag-meta" },
          badge(row.kind, `kind-${row.kind}`),
          badge(row.source, `source-${row.source}`, sourceMeaning(row.source)),
          notes,
        ),
      ),
      h("td", {}, confidenceBar(row.tag, row.confidence, threshold)),
      video ? h("td", { class: "timeline-cell" }, tagTimeline(row)) : null,
      editor ? h("td", { class: "actions-cell" }, actions(row)) : null,
    );
  }

  function sourceMeaning(source) {
    return {
      machine: "computed by the model",
      manual: "added by a person",
      promoted: "promoted by a person: weighs double",
    }[source];
  }

  function renderTags(tags, removed) {
    const video = asset.media_type === "video" && asset.duration_s;
    const rows = [...tags].sort(byConfidence);
    const table = rows.length
      ? h(
          "table",
          { class: "tags-table" },
          h("caption", { class: "visually-hidden" }, "Smart tags, strongest first"),
          h(
            "thead",
            {},
            h(
              "tr",
              {},
              h("th", { scope: "col" }, "Tag"),
              h("th", { scope: "col" }, "Confidence"),
              video ? h("th", { scope: "col" }, "Timeline") : null,
              editor
                ? h("th", { scope: "col" }, h("span", { class: "visually-hidden" }, "Actions"))
                : null,
            ),
          ),
          h(
            "tbody",
            {},
            rows.map((row) => tagRow(row, video)),
          ),
        )
      : h("p", { class: "muted" }, "No tags yet.");
    replace(tagsBody, table);
    replace(
      removedBox,
      removed.length
        ? [
            h("h3", {}, "Removed tags"),
            h(
              "ul",
              { class: "removed-list" },
              removed.map((row) =>
                h(
                  "li",
                  { dataset: { tag: row.tag } },
                  h("span", { class: "tag-name" }, row.tag),
                  row.confidence !== null
                    ? h("span", { class: "muted" }, ` ${decimal(row.confidence)}`)
                    : null,
                  editor
                    ? h(
                        "button",
                        {
                          type: "button",
                          class: "small",
                          "aria-label": `Restore ${row.tag}`,
                          onclick: () => moderate("restore", row.tag),
                        },
                        "Restore",
                      )
                    : null,
                ),
              ),
            ),
          ]
        : [],
    );
  }

  function addTagForm() {
    const id = newId("new-tag");
    const input = h("input", {
      id,
      type: "text",
      name: "tag",
      required: true,
      maxlength: "100",
      autocomplete: "off",
      placeholder: "e.g. summer campaign",
    });
    return h(
      "form",
      {
        class: "add-tag",
        onsubmit: async (event) => {
          event.preventDefault();
          const tag = input.value.trim();
          if (!tag) return;
          await moderate("add", tag);
          input.value = "";
          input.focus();
        },
      },
      h("label", { for: id }, "New tag"),
      input,
      h("button", { type: "submit", class: "primary small" }, "Add tag"),
    );
  }

  // ---- details, technical metadata, history ---------------------------------------------

  function detailsPanel() {
    const box = h(
      "section",
      { class: "panel", "aria-labelledby": "details-heading" },
      h("h2", { id: "details-heading" }, "Details"),
    );
    if (!editor) {
      box.append(
        h(
          "dl",
          { class: "facts" },
          h("dt", {}, "Title"),
          h("dd", {}, asset.title || h("span", { class: "muted" }, "none")),
          h("dt", {}, "Description"),
          h("dd", { class: "prose" }, asset.description || h("span", { class: "muted" }, "none")),
          h("dt", {}, "Keywords"),
          h(
            "dd",
            {},
            asset.keywords.length
              ? asset.keywords.map((k) => h("span", { class: "chip" }, k))
              : h("span", { class: "muted" }, "none"),
          ),
        ),
      );
      return box;
    }
    const titleInput = h("input", {
      id: "edit-title",
      name: "title",
      type: "text",
      value: asset.title,
      maxlength: "500",
    });
    const description = h("textarea", { id: "edit-description", name: "description", rows: "4" });
    description.value = asset.description;
    const keywords = h("input", {
      id: "edit-keywords",
      name: "keywords",
      type: "text",
      value: asset.keywords.join(", "),
      "aria-describedby": "keywords-hint",
    });
    const message = h("div", { "aria-live": "polite" });
    const save = h("button", { type: "submit", class: "primary" }, "Save details");
    box.append(
      h(
        "form",
        {
          class: "stack",
          onsubmit: async (event) => {
            event.preventDefault();
            const wanted = {
              title: titleInput.value.trim(),
              description: description.value.trim(),
              keywords: keywords.value
                .split(",")
                .map((k) => k.trim())
                .filter(Boolean),
            };
            const changes = {};
            if (wanted.title !== asset.title) changes.title = wanted.title;
            if (wanted.description !== asset.description) changes.description = wanted.description;
            if (wanted.keywords.join("\n") !== asset.keywords.join("\n"))
              changes.keywords = wanted.keywords;
            if (!Object.keys(changes).length) {
              replace(message, h("p", { class: "hint" }, "Nothing changed."));
              return;
            }
            save.disabled = true;
            try {
              asset = await api(path, { method: "PATCH", body: changes });
              titleInput.value = asset.title;
              description.value = asset.description;
              keywords.value = asset.keywords.join(", ");
              heading.textContent = asset.title || asset.file_name;
              replace(message);
              toast("Details saved");
              loadHistory();
            } catch (error) {
              replace(message, h("p", { class: "notice error", role: "alert" }, errorText(error)));
            } finally {
              save.disabled = false;
            }
          },
        },
        h("div", { class: "field" }, h("label", { for: "edit-title" }, "Title"), titleInput),
        h(
          "div",
          { class: "field" },
          h("label", { for: "edit-description" }, "Description"),
          description,
        ),
        h(
          "div",
          { class: "field" },
          h("label", { for: "edit-keywords" }, "Keywords"),
          keywords,
          h("p", { id: "keywords-hint", class: "hint" }, "Separate keywords with commas."),
        ),
        message,
        h("div", { class: "actions" }, save),
      ),
    );
    return box;
  }

  function technicalPanel() {
    const facts = [
      ["Type", asset.media_type === "video" ? "Video" : "Image"],
      ["Format", asset.format],
      ["Codec", asset.codec],
      ["Duration", asset.duration_s !== null ? duration(asset.duration_s) : null],
      ["Dimensions", asset.width && asset.height ? `${asset.width} × ${asset.height}` : null],
      ["File size", asset.size_bytes !== null ? bytes(asset.size_bytes) : null],
      ["Folder", asset.folder || "Library root"],
      ["File name", asset.file_name],
      [
        "Status",
        [
          badge(asset.status, STATUS_KIND[asset.status] || "neutral"),
          asset.status_reason ? ` ${asset.status_reason}` : "",
        ],
      ],
      ["Tagged", asset.tagged_at ? dateTime(asset.tagged_at) : null],
      ["Model", asset.model_id],
      ["Added", dateTime(asset.created_at)],
      ["Updated", dateTime(asset.updated_at)],
      ["Asset id", h("code", {}, asset.id)],
    ];
    return h(
      "section",
      { class: "panel", "aria-labelledby": "tech-heading" },
      h("h2", { id: "tech-heading" }, "Technical metadata"),
      h(
        "dl",
        { class: "facts two" },
        facts
          .filter(([, value]) => value !== null && value !== undefined && value !== "")
          .map(([name, value]) => [h("dt", {}, name), h("dd", {}, value)]),
      ),
    );
  }

  async function loadHistory() {
    try {
      const log = await api(`${path}/audit`, { query: { limit: 50 } });
      replace(
        historyBox,
        log.entries.length
          ? h(
              "ol",
              { class: "history-list" },
              log.entries.map((entry) =>
                h(
                  "li",
                  { class: `history-${entry.action}` },
                  h("p", {}, auditLine(entry)),
                  h(
                    "p",
                    { class: "muted small" },
                    h("time", { datetime: entry.at, title: entry.at }, dateTime(entry.at)),
                    " · ",
                    entry.actor,
                  ),
                ),
              ),
            )
          : h("p", { class: "muted" }, "No changes yet."),
      );
    } catch (error) {
      replace(historyBox, errorBox(error, "The history cannot be read."));
    }
  }

  async function loadMoments(box) {
    if (!query || asset.media_type !== "video" || !asset.duration_s) return;
    let found;
    try {
      found = await api(`${path}/moments`, { query: { q: query } });
    } catch {
      return; // no semantic search on this server
    }
    if (!found.moments || !found.moments.length) return;
    const describe = (m) =>
      `Moment ${duration(m.start_s)} to ${duration(m.end_s)}, score ${decimal(m.score)}`;
    replace(
      box,
      h("h2", { id: "moments-heading" }, "Moments matching ", h("q", {}, query)),
      timeline(
        `Moments matching ${query}`,
        found.moments.map((m) => [m.start_s, m.end_s, m]),
        ([, , m]) => describe(m),
      ),
      h(
        "ol",
        { class: "moments" },
        found.moments.map((m) =>
          h(
            "li",
            {},
            h(
              "button",
              { type: "button", class: "link", onclick: () => seek(m.start_s) },
              `${duration(m.start_s)}–${duration(m.end_s)}`,
            ),
            h("span", { class: "muted" }, ` score ${decimal(m.score)}`),
          ),
        ),
      ),
    );
    box.hidden = false;
  }

  /** "Find similar" once the server searches by example (issue 13's /assets/{id}/similar). */
  async function offerSimilar() {
    try {
      await api(`${path}/similar`, { query: { limit: 1 } });
    } catch {
      return;
    }
    container
      .querySelector(".asset-sub")
      ?.append(
        h(
          "a",
          { href: href(["search"], { like: asset.id }), class: "button small" },
          "Find similar",
        ),
      );
  }

  async function loadThresholds() {
    try {
      const found = await api("/tags/thresholds");
      thresholds = Object.fromEntries(found.tags.map((t) => [t.tag, t.threshold]));
    } catch {
      thresholds = {}; // a server without learned thresholds
    }
  }

  // ---- the page -------------------------------------------------------------------------

  const heading = h("h1", {});

  async function load() {
    let listing;
    try {
      [asset, listing] = await Promise.all([api(path), api(`${path}/tags`), loadThresholds()]);
    } catch (error) {
      replace(
        container,
        h("p", { class: "crumbs" }, h("a", { href: back }, "← Back to results")),
        h("h1", {}, error.status === 404 ? "No such asset" : "Asset"),
        errorBox(
          error,
          error.status === 404 ? "It may have been deleted." : "The asset cannot be read.",
        ),
      );
      return;
    }
    document.title = `${asset.title || asset.file_name} · smarttags`;
    heading.textContent = asset.title || asset.file_name;
    const moments = h("section", {
      class: "panel",
      "aria-labelledby": "moments-heading",
      hidden: true,
    });
    const undo = editor
      ? h("button", { type: "button", class: "small", onclick: () => moderate("undo") }, "Undo")
      : null;
    replace(
      container,
      h(
        "p",
        { class: "crumbs" },
        h("a", { href: back }, "← Back to results"),
        " ",
        h("span", { class: "muted" }, "/ ", asset.folder || "Library root"),
      ),
      h(
        "header",
        { class: "asset-header" },
        heading,
        h(
          "p",
          { class: "asset-sub" },
          badge(asset.media_type === "video" ? "Video" : "Image", "type"),
          " ",
          badge(asset.status, STATUS_KIND[asset.status] || "neutral"),
          " ",
          h("span", { class: "muted" }, asset.path),
        ),
      ),
      h(
        "div",
        { class: "asset-layout" },
        h(
          "div",
          { class: "asset-main" },
          playerFigure(),
          moments,
          h(
            "section",
            { class: "panel", "aria-labelledby": "tags-heading" },
            h(
              "div",
              { class: "panel-head" },
              h("h2", { id: "tags-heading", tabindex: "-1" }, "Smart tags"),
              undo,
            ),
            h(
              "p",
              { class: "hint" },
              "Objects, scenes and actions together, strongest first. ",
              asset.media_type === "video" ? "Click a segment of a timeline to jump there." : "",
            ),
            tagsBody,
            editor ? addTagForm() : null,
            removedBox,
          ),
        ),
        h(
          "aside",
          { class: "asset-side", "aria-label": "About this asset" },
          detailsPanel(),
          technicalPanel(),
          h(
            "section",
            { class: "panel", "aria-labelledby": "history-heading" },
            h("h2", { id: "history-heading" }, "History"),
            historyBox,
          ),
        ),
      ),
    );
    renderTags(listing.tags, listing.removed);
    offerSimilar();
    heading.setAttribute("tabindex", "-1");
    if (document.activeElement === document.body || !document.activeElement?.isConnected)
      heading.focus();
    loadHistory();
    loadMoments(moments);
  }

  load();
  return {
    destroy() {
      if (player && player.tagName === "VIDEO") player.pause();
      blobs.forEach((url) => URL.revokeObjectURL(url));
    },
  };
}
