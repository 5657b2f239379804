// Upload: drop videos and images into a folder; each file shows its upload progress, then
// its indexing job's progress, until the asset appears with its poster and tags.

import { api, uploadFile } from "../api.js";
import { badge, errorText, jobProgress, progressBar, setProgress } from "../components.js";
import { h, replace } from "../dom.js";
import { bytes, folderLabel } from "../format.js";
import { showPoster } from "../media.js";
import { href } from "../router.js";

export const title = "Upload";
export const needs = "editor";

const ACCEPT = "video/*,image/*";

export function mount(container, route) {
  const jobs = []; // live job watchers, stopped on leaving
  let queue = Promise.resolve(); // files upload one after another

  const folder = h("input", {
    id: "upload-folder",
    name: "folder",
    type: "text",
    list: "folder-options",
    value: route.params.get("folder") || "",
    placeholder: "e.g. campaigns/summer",
    autocomplete: "off",
    "aria-describedby": "folder-hint",
  });
  const options = h("datalist", { id: "folder-options" });
  const replaceBox = h("input", { id: "upload-replace", type: "checkbox" });
  const picker = h("input", {
    id: "upload-files",
    type: "file",
    multiple: true,
    accept: ACCEPT,
    class: "visually-hidden",
    onchange: () => (addFiles(picker.files), (picker.value = "")),
  });
  const list = h("ul", { class: "uploads", "aria-label": "Uploads" });
  const zone = h(
    "div",
    { class: "dropzone", id: "dropzone" },
    h("div", { class: "dropzone-icon", "aria-hidden": "true" }, "⇪"),
    h("p", { class: "dropzone-title" }, "Drop videos and images here"),
    h("p", { class: "muted" }, "or"),
    h("label", { for: "upload-files", class: "button primary" }, "Choose files"),
    picker,
  );

  for (const name of ["dragenter", "dragover"]) {
    zone.addEventListener(name, (event) => {
      event.preventDefault();
      zone.classList.add("over");
    });
  }
  for (const name of ["dragleave", "drop"]) {
    zone.addEventListener(name, () => zone.classList.remove("over"));
  }
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    if (event.dataTransfer && event.dataTransfer.files.length) addFiles(event.dataTransfer.files);
  });

  replace(
    container,
    h(
      "header",
      { class: "page-head" },
      h("h1", {}, "Upload"),
      h(
        "p",
        { class: "muted" },
        "Files go into the library folder you name; a worker then computes their smart tags.",
      ),
    ),
    h(
      "div",
      { class: "upload-layout" },
      h(
        "section",
        { class: "panel", "aria-label": "Where and what" },
        h(
          "div",
          { class: "field" },
          h("label", { for: "upload-folder" }, "Destination folder"),
          folder,
          options,
          h(
            "p",
            { id: "folder-hint", class: "hint" },
            "Empty: the library root. Subfolders are made as needed.",
          ),
        ),
        h(
          "div",
          { class: "field check" },
          replaceBox,
          h("label", { for: "upload-replace" }, "Replace files of the same name"),
        ),
        zone,
      ),
      h(
        "section",
        { class: "panel", "aria-labelledby": "uploads-heading" },
        h("h2", { id: "uploads-heading" }, "This session"),
        list,
        h("p", { class: "muted empty-note" }, "Nothing uploaded yet."),
      ),
    ),
  );

  api("/folders/tree")
    .then((tree) =>
      replace(
        options,
        tree.folders.filter((f) => f.folder).map((f) => h("option", { value: f.folder })),
      ),
    )
    .catch(() => {});

  function addFiles(files) {
    container.querySelector(".empty-note")?.remove();
    for (const file of Array.from(files)) {
      const item = fileItem(file, folder.value.trim(), replaceBox.checked);
      list.prepend(item.element);
      queue = queue.then(() => item.start());
    }
  }

  function fileItem(file, destination, overwrite) {
    const status = h("span", { class: "upload-status" }, badge("waiting", "neutral"));
    const bar = progressBar(`Upload of ${file.name}`, 0, file.size || 1);
    const stage = h("div", { class: "upload-stage" }, bar);
    const result = h("div", { class: "upload-result" });
    const element = h(
      "li",
      { class: "upload", dataset: { file: file.name } },
      h(
        "div",
        { class: "upload-head" },
        h("span", { class: "upload-name" }, file.name),
        h("span", { class: "muted" }, `${bytes(file.size)} → ${folderLabel(destination)}`),
        status,
      ),
      stage,
      result,
    );

    async function start() {
      replace(status, badge("uploading", "info"));
      let accepted;
      try {
        accepted = await uploadFile(
          file,
          { folder: destination, replace: overwrite ? "true" : "false" },
          (sent, total) => setProgress(bar, sent, total, `${bytes(sent)} of ${bytes(total)}`),
        );
      } catch (error) {
        replace(status, badge("refused", "danger"));
        replace(result, h("p", { class: "notice error", role: "alert" }, errorText(error)));
        stage.remove();
        return;
      }
      setProgress(bar, file.size, file.size, `${bytes(file.size)} sent`);
      bar.classList.add("complete");
      replace(status, badge("indexing", "info"));
      const watcher = jobProgress(accepted.job_id, {
        label: `Indexing of ${file.name}`,
        onEnd: (job) => finished(job, accepted),
      });
      jobs.push(watcher);
      stage.append(watcher.element); // under the finished upload bar
    }

    async function finished(job, accepted) {
      const failed = job.state === "failed" || (job.errors && job.errors.length);
      let asset = null;
      try {
        asset = await api(`/assets/${encodeURIComponent(accepted.asset_id)}`);
      } catch {
        asset = null;
      }
      replace(
        status,
        badge(failed ? "failed" : asset ? asset.status : job.state, failed ? "danger" : "success"),
      );
      const reasons = (job.errors || []).map((e) => `${e.status}: ${e.reason}`);
      if (job.message && job.state === "failed") reasons.push(job.message);
      if (!asset) {
        replace(
          result,
          h("p", { class: "notice error" }, reasons.join("; ") || "The asset is gone."),
        );
        return;
      }
      const img = h("img", { alt: "" });
      const tags = (asset.tags || []).filter((t) => t.effective).slice(0, 5);
      replace(
        result,
        h(
          "div",
          { class: "upload-asset" },
          h(
            "div",
            { class: "poster small" },
            img,
            h(
              "span",
              { class: "poster-fallback", "aria-hidden": "true" },
              asset.media_type === "video" ? "▶" : "◼",
            ),
          ),
          h(
            "div",
            {},
            h(
              "a",
              { href: href(["asset", asset.id]), class: "upload-link" },
              `Open ${asset.title || asset.file_name}`,
            ),
            reasons.length ? h("p", { class: "notice error" }, reasons.join("; ")) : null,
            tags.length
              ? h(
                  "p",
                  { class: "muted small" },
                  "Tags: ",
                  tags.map((t) => h("span", { class: "chip" }, t.tag)),
                )
              : null,
          ),
        ),
      );
      showPoster(img, asset.id);
    }

    return { element, start };
  }

  return {
    destroy() {
      jobs.forEach((watcher) => watcher.stop());
    },
  };
}
