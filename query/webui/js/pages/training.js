// Training: the latest run's report per tag (trained, needs more examples, not trained, in
// colour and in words), precision, recall, F1 and threshold; downloads; starting a run.

import { api } from "../api.js";
import {
  badge,
  emptyState,
  errorBox,
  errorText,
  jobProgress,
  loading,
  toast,
} from "../components.js";
import { h, replace } from "../dom.js";
import { dateTime, decimal, folderLabel } from "../format.js";
import { download } from "../media.js";
import { can } from "../session.js";

export const title = "Training";

const STATUS = {
  trained: ["trained", "success", "Trained: tags new assets"],
  "needs more examples": ["needs-more", "warning", "Needs more examples: tag more assets by hand"],
  "not trained": ["not-trained", "danger", "Not trained: too few examples to learn from"],
};

function statusBadge(status) {
  const [key, kind, meaning] = STATUS[status] || [status, "neutral", status];
  return h(
    "span",
    { class: `badge status-${key} ${kind}`, title: meaning },
    h("span", { class: "dot", "aria-hidden": "true" }),
    status,
  );
}

/** How many tags are in each status, and what each status means. */
function legend(counts) {
  return h(
    "ul",
    { class: "status-legend", "aria-label": "Tags by status" },
    Object.entries(STATUS).map(([status, [, , meaning]]) =>
      h(
        "li",
        {},
        statusBadge(status),
        h("strong", { class: "status-count" }, String(counts[status] || 0)),
        h("span", { class: "muted" }, meaning.split(": ")[1]),
      ),
    ),
  );
}

function num(value, digits = 2) {
  return h(
    "td",
    { class: "num" },
    value === null || value === undefined
      ? h("span", { class: "muted", "aria-label": "none" }, "–")
      : typeof value === "number" && !Number.isInteger(value)
        ? decimal(value, digits)
        : String(value),
  );
}

function reportTable(report) {
  const rows = [...report.tags].sort(
    (a, b) => (b.f1 ?? -1) - (a.f1 ?? -1) || a.tag.localeCompare(b.tag),
  );
  return h(
    "table",
    { class: "report-table" },
    h("caption", { class: "visually-hidden" }, "Training report per tag"),
    h(
      "thead",
      {},
      h(
        "tr",
        {},
        [
          "Tag",
          "Status",
          "Positives",
          "Negatives",
          "Small images",
          "Precision",
          "Recall",
          "F1",
          "Threshold",
          "Coherence",
        ].map((name, i) => h("th", { scope: "col", class: i > 1 ? "num" : null }, name)),
      ),
    ),
    h(
      "tbody",
      {},
      rows.map((row) =>
        h(
          "tr",
          { dataset: { tag: row.tag } },
          h("th", { scope: "row" }, row.tag),
          h("td", {}, statusBadge(row.status)),
          num(row.positives),
          num(row.negatives),
          num(row.small_images),
          num(row.precision),
          num(row.recall),
          num(row.f1),
          num(row.threshold),
          num(row.coherence),
        ),
      ),
    ),
  );
}

export function mount(container) {
  let watcher = null;
  const reportBox = h("div", {}, loading());
  const startBox = h("div", {});

  replace(
    container,
    h(
      "header",
      { class: "page-head" },
      h("h1", {}, "Training"),
      h(
        "p",
        { class: "muted" },
        "Custom tags learned from the assets you tagged by hand. A tag is trained once it has enough examples and a good cross-validated F1.",
      ),
    ),
    reportBox,
    startBox,
  );

  function runFacts(report) {
    const counts = Object.entries(report.counts || {}).map(
      ([k, v]) => `${k.replaceAll("_", " ")} ${v}`,
    );
    return h(
      "dl",
      { class: "facts inline" },
      h("dt", {}, "Run"),
      h("dd", {}, report.run),
      h("dt", {}, "State"),
      h(
        "dd",
        {},
        badge(
          report.state,
          report.state === "done" ? "success" : report.state === "failed" ? "danger" : "info",
        ),
      ),
      h("dt", {}, "Finished"),
      h("dd", {}, report.finished ? dateTime(report.finished) : "not yet"),
      h("dt", {}, "Folder"),
      h("dd", {}, folderLabel(report.folder)),
      report.model_id ? [h("dt", {}, "Model"), h("dd", {}, h("code", {}, report.model_id))] : null,
      counts.length ? [h("dt", {}, "Counts"), h("dd", {}, counts.join(" · "))] : null,
    );
  }

  async function save(format) {
    try {
      await download(`/training/report?format=${format}`, `training-report.${format}`);
    } catch (error) {
      toast(errorText(error), "error");
    }
  }

  async function loadReport() {
    let report;
    try {
      report = await api("/training/report");
    } catch (error) {
      replace(
        reportBox,
        error.status === 404
          ? emptyState(
              "No training run yet",
              can("admin")
                ? "Tag some assets by hand, then start training below."
                : "An administrator starts training.",
            )
          : errorBox(error, "The report cannot be read."),
      );
      return;
    }
    const counts = { trained: 0, "needs more examples": 0, "not trained": 0 };
    report.tags.forEach((t) => (counts[t.status] = (counts[t.status] || 0) + 1));
    replace(
      reportBox,
      h(
        "section",
        { class: "panel", "aria-labelledby": "report-heading" },
        h(
          "div",
          { class: "panel-head" },
          h("h2", { id: "report-heading" }, "Latest report"),
          h(
            "div",
            { class: "toolbar" },
            h(
              "button",
              { type: "button", class: "small", onclick: () => save("csv") },
              "Download CSV",
            ),
            h(
              "button",
              { type: "button", class: "small", onclick: () => save("xlsx") },
              "Download XLSX",
            ),
          ),
        ),
        runFacts(report),
        legend(counts),
        report.tags.length
          ? h("div", { class: "table-scroll" }, reportTable(report))
          : h("p", { class: "muted" }, "This run had no tags to train."),
        report.message ? h("p", { class: "hint" }, report.message) : null,
        report.errors && report.errors.length
          ? h(
              "details",
              {},
              h("summary", {}, `${report.errors.length} files could not be read`),
              h(
                "ul",
                {},
                report.errors.map((e) => h("li", {}, h("code", {}, e.path), `: ${e.reason}`)),
              ),
            )
          : null,
      ),
    );
  }

  function startForm() {
    if (!can("admin")) return;
    const progress = h("div", { class: "job-slot" });
    const folder = h("input", {
      id: "train-folder",
      type: "text",
      placeholder: "the whole library",
    });
    const tags = h("input", {
      id: "train-tags",
      type: "text",
      placeholder: "every tag with examples",
      "aria-describedby": "train-tags-hint",
    });
    const start = h("button", { type: "submit", class: "primary" }, "Start training");
    const apply = h(
      "button",
      {
        type: "button",
        onclick: () => launch("/autotag", { folder: folder.value.trim() }, "Custom tagging"),
      },
      "Apply trained tags",
    );

    async function launch(path, body, label) {
      start.disabled = apply.disabled = true;
      try {
        const accepted = await api(path, { method: "POST", body });
        if (watcher) watcher.stop();
        watcher = jobProgress(accepted.job_id, {
          label,
          onEnd: (job) => {
            start.disabled = apply.disabled = false;
            toast(`${label} ${job.state}`, job.state === "failed" ? "error" : "info");
            loadReport();
          },
        });
        replace(progress, watcher.element);
      } catch (error) {
        start.disabled = apply.disabled = false;
        replace(progress, h("p", { class: "notice error", role: "alert" }, errorText(error)));
      }
    }

    replace(
      startBox,
      h(
        "form",
        {
          class: "panel stack",
          "aria-labelledby": "train-heading",
          onsubmit: (event) => {
            event.preventDefault();
            const names = tags.value
              .split(",")
              .map((t) => t.trim())
              .filter(Boolean);
            launch("/training", { folder: folder.value.trim(), tags: names }, "Training");
          },
        },
        h("h2", { id: "train-heading" }, "Train"),
        h(
          "div",
          { class: "grid-2" },
          h("div", { class: "field" }, h("label", { for: "train-folder" }, "Folder"), folder),
          h(
            "div",
            { class: "field" },
            h("label", { for: "train-tags" }, "Tags"),
            tags,
            h("p", { id: "train-tags-hint", class: "hint" }, "Separate with commas; empty: all."),
          ),
        ),
        h("div", { class: "actions" }, start, apply),
        progress,
      ),
    );
  }

  loadReport();
  startForm();
  return {
    destroy() {
      if (watcher) watcher.stop();
    },
  };
}
