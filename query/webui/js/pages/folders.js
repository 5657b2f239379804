// Folders: the tree with each folder's effective video and image setting and where it
// comes from; a folder's own setting (enable, disable, inherit), its history, and
// "Reprocess this folder".

import { api } from "../api.js";
import {
  badge,
  depth,
  emptyState,
  errorBox,
  errorText,
  jobProgress,
  loading,
  toast,
} from "../components.js";
import { h, replace } from "../dom.js";
import { dateTime, folderLabel, folderName, plural } from "../format.js";
import { href } from "../router.js";
import { can } from "../session.js";

export const title = "Folders";

const MEDIA = [
  ["video", "Videos"],
  ["image", "Images"],
];
const TOGGLES = [
  ["inherit", "Inherit"],
  ["enable", "Enable"],
  ["disable", "Disable"],
];

function settingsPath(folder, leaf = "settings") {
  const parts = folder ? folder.split("/").map(encodeURIComponent).join("/") + "/" : "";
  return `/folders/${parts}${leaf}`;
}

/** Where a value comes from, in words. */
export function sourceText(value) {
  if (value.setting !== "inherit") return "set here";
  if (value.inherited_from === null) return "library default";
  return `from ${folderLabel(value.inherited_from)}`;
}

function effectiveCell(value, media, folder) {
  const on = value.effective === "enable";
  return h(
    "div",
    { class: "effective", dataset: { media } },
    badge(on ? "Enabled" : "Disabled", on ? "success" : "danger"),
    h(
      "span",
      {
        class: `source ${value.setting !== "inherit" ? "own" : ""}`,
        title: `${media} smart tags in ${folderLabel(folder)}`,
      },
      sourceText(value),
    ),
  );
}

export function mount(container, route) {
  let selected = route.params.get("folder") || "";
  let folders = [];
  let job = null;

  const tableBox = h("div", { class: "panel flush" }, loading("Loading folders…"));
  const detail = h("aside", {
    class: "panel folder-detail",
    "aria-labelledby": "folder-detail-heading",
  });

  replace(
    container,
    h(
      "header",
      { class: "page-head" },
      h("h1", {}, "Folders"),
      h(
        "p",
        { class: "muted" },
        "Smart tags are computed for videos and images unless a folder says otherwise. A folder without its own setting inherits it from the nearest parent that has one.",
      ),
    ),
    h("div", { class: "folders-layout" }, tableBox, detail),
  );

  function row(item) {
    const here = item.folder === selected;
    const link = h(
      "a",
      {
        href: href(["folders"], { folder: item.folder }),
        class: "folder-link",
        "aria-current": here ? "true" : null,
        title: folderLabel(item.folder),
      },
      h("span", { class: "folder-icon", "aria-hidden": "true" }, "▸"),
      folderName(item.folder),
    );
    link.style.paddingLeft = `${depth(item.folder) * 1.25}rem`;
    return h(
      "tr",
      { class: here ? "selected" : null, dataset: { folder: item.folder } },
      h("th", { scope: "row" }, link),
      h(
        "td",
        { class: "num" },
        item.total.toLocaleString(),
        item.assets !== item.total
          ? h("span", { class: "muted small" }, ` (${item.assets} here)`)
          : null,
      ),
      h("td", {}, effectiveCell(item.video, "video", item.folder)),
      h("td", {}, effectiveCell(item.image, "image", item.folder)),
    );
  }

  function renderTable() {
    if (!folders.length) {
      replace(
        tableBox,
        emptyState(
          "No folders yet",
          "Folders appear once assets are indexed or uploaded into them.",
        ),
      );
      return;
    }
    replace(
      tableBox,
      h(
        "table",
        { class: "folders-table" },
        h(
          "caption",
          { class: "visually-hidden" },
          "Folders with their effective smart-tag settings",
        ),
        h(
          "thead",
          {},
          h(
            "tr",
            {},
            h("th", { scope: "col" }, "Folder"),
            h("th", { scope: "col", class: "num" }, "Assets"),
            h("th", { scope: "col" }, "Videos"),
            h("th", { scope: "col" }, "Images"),
          ),
        ),
        h("tbody", {}, folders.map(row)),
      ),
    );
  }

  function settingsForm(item) {
    const editor = can("editor");
    const message = h("div", { "aria-live": "polite" });
    const groups = MEDIA.map(([media, label]) => {
      const value = item[media];
      const on = value.effective === "enable";
      const summary = h(
        "p",
        { class: "hint" },
        "Now ",
        h("strong", {}, on ? "enabled" : "disabled"),
        ` (${sourceText(value)})`,
      );
      if (!editor) return h("div", { class: "setting-read" }, h("h3", {}, label), summary);
      return h(
        "fieldset",
        { class: "segmented-field" },
        h("legend", {}, label),
        h(
          "div",
          { class: "segmented" },
          TOGGLES.map(([toggle, text]) => {
            const id = `${media}-${toggle}`;
            return [
              h("input", {
                type: "radio",
                name: media,
                id,
                value: toggle,
                checked: value.setting === toggle,
              }),
              h("label", { for: id }, text),
            ];
          }),
        ),
        summary,
      );
    });
    if (!editor) return h("div", { class: "stack" }, groups);
    const save = h("button", { type: "submit", class: "primary" }, "Save settings");
    return h(
      "form",
      {
        class: "stack",
        onsubmit: async (event) => {
          event.preventDefault();
          const form = event.currentTarget;
          const body = Object.fromEntries(
            MEDIA.map(([media]) => [media, form.elements[media].value]),
          );
          save.disabled = true;
          try {
            await api(settingsPath(item.folder), { method: "PUT", body });
            toast(`Settings of ${folderLabel(item.folder)} saved`);
            await load();
          } catch (error) {
            replace(message, h("p", { class: "notice error", role: "alert" }, errorText(error)));
          } finally {
            save.disabled = false;
          }
        },
      },
      groups,
      message,
      h("div", { class: "actions" }, save),
    );
  }

  function reprocessForm(item) {
    if (!can("admin")) return null;
    const progress = h("div", { class: "job-slot" });
    const button = h("button", { type: "submit" }, "Reprocess this folder");
    return h(
      "form",
      {
        class: "stack reprocess",
        onsubmit: async (event) => {
          event.preventDefault();
          const mode = event.currentTarget.elements.mode.value;
          button.disabled = true;
          try {
            const accepted = await api("/reprocess", {
              method: "POST",
              body: { folder: item.folder, mode },
            });
            if (job) job.stop();
            job = jobProgress(accepted.job_id, {
              label: "Reprocessing",
              onEnd: (done) => {
                button.disabled = false;
                toast(`Reprocessing of ${folderLabel(item.folder)} ${done.state}`);
                load({ detail: false }); // the panel keeps the finished job in view
              },
            });
            replace(progress, job.element);
          } catch (error) {
            button.disabled = false;
            replace(progress, h("p", { class: "notice error", role: "alert" }, errorText(error)));
          }
        },
      },
      h("h3", {}, "Reprocess"),
      h(
        "fieldset",
        { class: "choices" },
        h("legend", { class: "visually-hidden" }, "How to reprocess"),
        h(
          "div",
          { class: "option" },
          h("input", {
            type: "radio",
            name: "mode",
            id: "mode-retag",
            value: "retag",
            checked: true,
          }),
          h(
            "label",
            { for: "mode-retag" },
            h("strong", {}, "Retag"),
            " — from the cached embeddings; fast",
          ),
        ),
        h(
          "div",
          { class: "option" },
          h("input", { type: "radio", name: "mode", id: "mode-full", value: "full" }),
          h("label", { for: "mode-full" }, h("strong", {}, "Full"), " — decode the files again"),
        ),
      ),
      h("p", { class: "hint" }, "Moderation and edited metadata are kept."),
      h("div", { class: "actions" }, button),
      progress,
    );
  }

  async function history(item, box) {
    try {
      const log = await api(settingsPath(item.folder, "audit"), { query: { limit: 20 } });
      replace(
        box,
        log.entries.length
          ? h(
              "ol",
              { class: "history-list" },
              log.entries.map((e) =>
                h(
                  "li",
                  {},
                  h(
                    "p",
                    {},
                    `${e.tag === "video" ? "Videos" : "Images"}: ${e.before} → ${e.after}`,
                  ),
                  h("p", { class: "muted small" }, dateTime(e.at), " · ", e.actor),
                ),
              ),
            )
          : h("p", { class: "muted" }, "Never changed."),
      );
    } catch (error) {
      replace(box, errorBox(error, "The history cannot be read."));
    }
  }

  function renderDetail() {
    const item = folders.find((f) => f.folder === selected) || folders[0];
    if (!item) {
      replace(detail);
      return;
    }
    const historyBox = h("div", {}, loading());
    replace(
      detail,
      h("h2", { id: "folder-detail-heading" }, folderLabel(item.folder)),
      h(
        "p",
        { class: "muted" },
        `${plural(item.total, "asset")}, ${item.assets.toLocaleString()} directly in it`,
      ),
      settingsForm(item),
      reprocessForm(item),
      h("h3", {}, "History"),
      historyBox,
    );
    history(item, historyBox);
  }

  async function load({ detail = true } = {}) {
    try {
      const tree = await api("/folders/tree");
      folders = tree.folders;
      renderTable();
      if (tree.truncated)
        tableBox.prepend(h("p", { class: "notice info" }, "Only the first folders are listed."));
      if (detail) renderDetail();
    } catch (error) {
      replace(tableBox, errorBox(error, "The folders cannot be listed."));
    }
  }

  load();
  return {
    update(next) {
      selected = next.params.get("folder") || "";
      if (job) job.stop();
      job = null;
      renderTable();
      renderDetail();
      detail.querySelector("h2")?.setAttribute("tabindex", "-1");
    },
    destroy() {
      if (job) job.stop();
    },
  };
}
