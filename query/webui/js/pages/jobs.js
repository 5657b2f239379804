// Jobs: running and recent work (uploads, reprocessing, training, tagging) with live
// progress and the errors by file.

import { api } from "../api.js";
import {
  badge,
  emptyState,
  errorBox,
  loading,
  poll,
  progressBar,
  setProgress,
  stateBadge,
} from "../components.js";
import { h, replace } from "../dom.js";
import { ago, dateTime, folderLabel, plural } from "../format.js";
import { go } from "../router.js";

export const title = "Jobs";

const REFRESH_MS = 1000;
const STATES = [
  ["", "All"],
  ["running", "Running"],
  ["queued", "Queued"],
  ["done", "Done"],
  ["failed", "Failed"],
];
const KINDS = {
  index: "Indexing",
  reprocess: "Reprocessing",
  train: "Training",
  autotag: "Custom tagging",
};

function what(job) {
  const p = job.params || {};
  if (job.kind === "index" && p.paths)
    return p.paths.length === 1 ? p.paths[0] : plural(p.paths.length, "file");
  if (job.kind === "reprocess") {
    const scope =
      p.asset_ids && p.asset_ids.length
        ? plural(p.asset_ids.length, "asset")
        : folderLabel(p.folder || "");
    return `${p.mode || "retag"} · ${scope}`;
  }
  if (p.folder !== undefined) return folderLabel(p.folder);
  return "";
}

const words = (key) => key.replaceAll("_", " ");

/** The summary's counts: `tagged 3 · skipped 2 (no media file 2)`; lists are left out. */
function summary(job) {
  if (!job.summary) return null;
  const parts = [];
  for (const [key, value] of Object.entries(job.summary)) {
    if (typeof value === "number" || typeof value === "string")
      parts.push(`${words(key)} ${value}`);
    else if (value && !Array.isArray(value) && typeof value === "object") {
      const counts = Object.entries(value).filter(([, n]) => typeof n === "number");
      const total = counts.reduce((sum, [, n]) => sum + n, 0);
      const why = counts.map(([reason, n]) => `${words(reason)} ${n}`).join(", ");
      parts.push(`${words(key)} ${total}${why ? ` (${why})` : ""}`);
    }
  }
  return parts.length ? h("p", { class: "muted small" }, parts.join(" · ")) : null;
}

function errors(job) {
  if (!job.errors || !job.errors.length) return null;
  return h(
    "details",
    { class: "job-errors", open: job.errors.length <= 3 },
    h("summary", {}, plural(job.errors.length, "error"), " by file"),
    h(
      "ul",
      {},
      job.errors.map((e) =>
        h(
          "li",
          {},
          h("code", {}, e.path || "?"),
          " — ",
          h("strong", {}, e.status || "error"),
          e.reason ? `: ${e.reason}` : "",
        ),
      ),
    ),
  );
}

function jobCard(job, highlighted) {
  const bar = progressBar(`Progress of ${KINDS[job.kind] || job.kind} job ${job.id}`);
  if (job.total) setProgress(bar, job.done, job.total);
  else if (job.state === "done") setProgress(bar, 1, 1);
  else if (job.state !== "running") setProgress(bar, 0, 1);
  return h(
    "li",
    { class: `job ${job.state}${highlighted ? " highlighted" : ""}`, dataset: { jobId: job.id } },
    h(
      "div",
      { class: "job-top" },
      h(
        "div",
        {},
        h("span", { class: "job-kind" }, KINDS[job.kind] || job.kind),
        " ",
        h("span", { class: "muted" }, what(job)),
      ),
      stateBadge(job.state),
    ),
    bar,
    h(
      "div",
      { class: "job-facts muted small" },
      h(
        "span",
        {},
        job.total
          ? `${job.done} of ${job.total}`
          : job.state === "queued"
            ? "waiting for a worker"
            : "",
      ),
      job.current && job.state === "running"
        ? h("span", {}, "now: ", h("code", {}, job.current))
        : null,
      h("span", { title: dateTime(job.created_at) }, "queued ", ago(job.created_at)),
      job.finished_at
        ? h("span", { title: dateTime(job.finished_at) }, "ended ", ago(job.finished_at))
        : null,
      job.actor ? h("span", {}, "by ", job.actor) : null,
      job.attempt > 1 ? badge(`attempt ${job.attempt}`, "warning") : null,
      h("code", { class: "job-id" }, job.id),
    ),
    job.message
      ? h("p", { class: job.state === "failed" ? "notice error" : "hint" }, job.message)
      : null,
    summary(job),
    errors(job),
  );
}

export function mount(container, route) {
  let state = route.params.get("state") || "";
  const highlight = route.params.get("job") || "";
  let cards = new Map(); // job id -> {signature, element}
  const counts = h("p", { class: "counts" });
  const listBox = h("div", { "aria-live": "off" }, loading());
  const filter = h(
    "select",
    { id: "job-state", onchange: () => go(["jobs"], { state: filter.value }) },
    STATES.map(([value, label]) => h("option", { value, selected: value === state }, label)),
  );

  replace(
    container,
    h(
      "header",
      { class: "page-head row" },
      h(
        "div",
        {},
        h("h1", {}, "Jobs"),
        h(
          "p",
          { class: "muted" },
          "Work the workers run: uploads, reprocessing, training and custom tagging. Updated every second.",
        ),
      ),
      h("div", { class: "field inline" }, h("label", { for: "job-state" }, "Show"), filter),
    ),
    counts,
    listBox,
  );

  const stop = poll(async () => {
    let body;
    try {
      body = await api("/jobs", { query: { state: state || null, limit: 50 } });
    } catch (error) {
      replace(listBox, errorBox(error, "Jobs cannot be read."));
      return true;
    }
    replace(
      counts,
      Object.entries(body.counts).map(([name, n]) =>
        h("span", { class: "count" }, h("strong", {}, n.toLocaleString()), ` ${name}`),
      ),
    );
    if (!body.jobs.length) {
      cards.clear();
      replace(
        listBox,
        emptyState(
          "No jobs",
          state ? `No ${state} jobs right now.` : "Uploads, reprocessing and training show here.",
        ),
      );
      return true;
    }
    let list = listBox.querySelector("ol.jobs");
    if (!list) {
      list = h("ol", { class: "jobs", "aria-label": "Jobs, newest first" });
      replace(listBox, list);
    }
    // only the cards whose job changed are built again: focus and open details stay put
    const seen = new Map();
    for (const job of body.jobs) {
      const signature = JSON.stringify(job);
      const known = cards.get(job.id);
      const card =
        known && known.signature === signature ? known.element : jobCard(job, job.id === highlight);
      if (known && known.element !== card) {
        if (known.element.querySelector("details")?.open)
          card.querySelector("details")?.setAttribute("open", "");
        known.element.replaceWith(card);
      }
      seen.set(job.id, { signature, element: card });
    }
    for (const [id, known] of cards) if (!seen.has(id)) known.element.remove();
    cards = seen;
    body.jobs.forEach((job, i) => {
      const card = seen.get(job.id).element;
      if (list.children[i] !== card) list.insertBefore(card, list.children[i] || null);
    });
    return true;
  }, REFRESH_MS);

  return {
    update(next) {
      state = next.params.get("state") || "";
      filter.value = state;
      cards.clear();
      replace(listBox, loading());
    },
    destroy: stop,
  };
}
