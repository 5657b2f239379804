// Small pieces the pages share: badges, bars, notices, polling, the folder tree.

import { api } from "./api.js";
import { h, replace } from "./dom.js";
import { decimal, folderName, percent, plural } from "./format.js";

// ---- messages ----------------------------------------------------------------------------

/** A short message in the corner, also read out by screen readers. */
export function toast(message, kind = "info") {
  const region = document.getElementById("toasts");
  const item = h(
    "div",
    { class: `toast ${kind}`, role: kind === "error" ? "alert" : "status" },
    message,
  );
  region.append(item);
  setTimeout(() => item.classList.add("leaving"), 4000);
  setTimeout(() => item.remove(), 4600);
}

export function errorText(error) {
  return error && error.detail
    ? error.detail
    : String(error && error.message ? error.message : error);
}

export function errorBox(error, title = "Something went wrong") {
  return h(
    "div",
    { class: "notice error", role: "alert" },
    h("strong", {}, title),
    " ",
    errorText(error),
  );
}

export function emptyState(title, text, ...extra) {
  return h(
    "div",
    { class: "empty" },
    h("p", { class: "empty-title" }, title),
    text ? h("p", {}, text) : null,
    extra,
  );
}

export function loading(text = "Loading…") {
  return h(
    "p",
    { class: "loading-text", role: "status" },
    h("span", { class: "spinner", "aria-hidden": "true" }),
    text,
  );
}

// ---- badges and bars ---------------------------------------------------------------------

export function badge(text, kind = "", title = null) {
  return h("span", { class: `badge ${kind}`.trim(), title }, text);
}

const TIERS = {
  1: ["Tier 1", "every word is in the title, keywords, file name or description"],
  2: ["Tier 2", "every word matches a smart tag"],
  3: ["Tier 3", "some words match a smart tag"],
  4: ["Tier 4", "matched by meaning (semantic)"],
};

export function tierBadge(tier) {
  if (!tier) return null;
  const [label, meaning] = TIERS[tier] || [`Tier ${tier}`, ""];
  return h("span", { class: `badge tier tier-${tier}`, title: meaning }, label);
}

export function tierMeaning(tier) {
  return (TIERS[tier] || ["", ""])[1];
}

/** A determinate bar (role progressbar) named `label`; value/max, or indeterminate. */
export function progressBar(label, value = null, max = null) {
  const fill = h("div", { class: "progress-fill" });
  const bar = h("div", { class: "progress", role: "progressbar", "aria-label": label }, fill);
  setProgress(bar, value, max);
  return bar;
}

export function setProgress(bar, value, max, text = `${value} of ${max}`) {
  const fill = bar.firstChild;
  if (value === null || !max) {
    bar.classList.add("indeterminate");
    bar.removeAttribute("aria-valuenow");
    fill.style.width = "";
    return;
  }
  bar.classList.remove("indeterminate");
  const share = Math.max(0, Math.min(1, value / max));
  bar.setAttribute("aria-valuemin", "0");
  bar.setAttribute("aria-valuemax", String(max));
  bar.setAttribute("aria-valuenow", String(value));
  bar.setAttribute("aria-valuetext", text);
  fill.style.width = percent(share, 1);
}

/** A confidence as a bar with its number; the threshold, when given, as a tick. */
export function confidenceBar(tag, confidence, threshold = null) {
  const fill = h("div", { class: "meter-fill" });
  fill.style.width = percent(Math.max(0, Math.min(1, confidence)), 1);
  const track = h("div", { class: "meter-track" }, fill);
  if (threshold !== null && threshold !== undefined) {
    const tick = h("div", { class: "meter-threshold", title: `threshold ${decimal(threshold)}` });
    tick.style.left = percent(threshold, 1);
    track.append(tick);
  }
  if (threshold !== null && threshold !== undefined && confidence < threshold)
    fill.classList.add("below");
  return h(
    "div",
    {
      class: "meter",
      role: "meter",
      "aria-label": `Confidence of ${tag}`,
      "aria-valuemin": "0",
      "aria-valuemax": "1",
      "aria-valuenow": String(confidence),
      "aria-valuetext": percent(confidence),
    },
    track,
    h("span", { class: "meter-value", "aria-hidden": "true" }, decimal(confidence)),
  );
}

const JOB_STATES = { queued: "neutral", running: "info", done: "success", failed: "danger" };

export function stateBadge(state) {
  return badge(state, JOB_STATES[state] || "neutral");
}

// ---- polling -----------------------------------------------------------------------------

/** Calls `tick` now and every `ms` until it returns false or `stop()` is called. */
export function poll(tick, ms) {
  let timer = null;
  let stopped = false;
  const run = async () => {
    if (stopped) return;
    let again = true;
    try {
      again = (await tick()) !== false;
    } catch {
      again = true; // a failed read is tried again on the next beat
    }
    if (!stopped && again) timer = setTimeout(run, ms);
  };
  run();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}

/**
 * A job's progress, live: a bar, its state and counts, then `onEnd(job)` once it is done or
 * failed. Returns {element, stop}.
 */
export function jobProgress(jobId, { onEnd = null, label = "Job" } = {}) {
  const bar = progressBar(`${label} progress`);
  const state = h("span", { class: "job-state" }, badge("queued", "neutral"));
  const detail = h("span", { class: "job-detail muted" }, "waiting for a worker…");
  const link = h(
    "a",
    { href: `#/jobs?job=${encodeURIComponent(jobId)}`, class: "job-link" },
    "job details",
  );
  const element = h(
    "div",
    { class: "job-progress" },
    h("div", { class: "job-line" }, state, detail, link),
    bar,
  );
  const stop = poll(async () => {
    const job = await api(`/jobs/${encodeURIComponent(jobId)}`);
    replace(state, stateBadge(job.state));
    setProgress(bar, job.total ? job.done : null, job.total || null);
    const parts = [];
    if (job.total) parts.push(`${job.done} of ${job.total}`);
    if (job.current && job.state === "running") parts.push(job.current);
    if (job.errors && job.errors.length) parts.push(plural(job.errors.length, "error"));
    if (job.state === "queued") parts.push("waiting for a worker…");
    if (job.message) parts.push(job.message);
    detail.textContent = parts.join(" · ");
    if (job.state === "done" || job.state === "failed") {
      element.classList.add(job.state);
      if (job.state === "done") setProgress(bar, job.total || 1, job.total || 1);
      if (onEnd) onEnd(job);
      return false;
    }
    return true;
  }, 500);
  return { element, stop };
}

// ---- the folder tree ---------------------------------------------------------------------

export function depth(folder) {
  return folder ? folder.split("/").length : 0;
}

/**
 * Folders as nested lists of buttons (parents before children, as GET /folders/tree gives
 * them): `selected` is pressed; `onPick(folder)` on a click.
 */
export function folderTree(folders, selected, onPick, { counts = true } = {}) {
  const root = h("ul", { class: "tree" });
  const lists = new Map([["", root]]);
  for (const item of folders) {
    const parent = item.folder.includes("/")
      ? item.folder.slice(0, item.folder.lastIndexOf("/"))
      : "";
    const list = item.folder === "" ? null : lists.get(parent) || root;
    const label = item.folder === "" ? "All folders" : folderName(item.folder);
    const button = h(
      "button",
      {
        type: "button",
        class: "tree-item",
        "aria-pressed": String(item.folder === (selected || "")),
        title: item.folder || "the whole library",
        onclick: () => onPick(item.folder),
      },
      h("span", { class: "tree-name" }, label),
      counts
        ? h(
            "span",
            { class: "tree-count", "aria-label": plural(item.total, "asset") },
            String(item.total),
          )
        : null,
    );
    const node = h("li", {}, button);
    if (item.folder === "") {
      root.append(node);
      const children = h("ul", { class: "tree" });
      node.append(children);
      lists.set("", children);
      continue;
    }
    list.append(node);
    const children = h("ul", { class: "tree" });
    node.append(children);
    lists.set(item.folder, children);
  }
  root.querySelectorAll("ul.tree").forEach((ul) => {
    if (!ul.children.length) ul.remove();
  });
  return root;
}
