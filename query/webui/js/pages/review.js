// The review queue (issue 15's GET /review): machine tags near their threshold, most
// uncertain first; accept adds the tag by hand, reject removes it.

import { api } from "../api.js";
import {
  badge,
  confidenceBar,
  emptyState,
  errorBox,
  errorText,
  loading,
  toast,
} from "../components.js";
import { h, replace } from "../dom.js";
import { duration, plural } from "../format.js";
import { showPoster } from "../media.js";
import { href } from "../router.js";
import { can } from "../session.js";

export const title = "Review";
const PAGE_SIZE = 20;

export function mount(container, route) {
  let offset = Number.parseInt(route.params.get("offset") || "0", 10) || 0;
  const listBox = h("div", {}, loading());
  const summary = h("p", { class: "muted" });
  replace(
    container,
    h(
      "header",
      { class: "page-head" },
      h("h1", {}, "Review"),
      h(
        "p",
        { class: "muted" },
        "Tags the model is least sure of. Accept one to keep it (it becomes a manual tag), reject it to remove it.",
      ),
      summary,
    ),
    listBox,
  );

  async function decide(item, element, action) {
    try {
      await api(`/assets/${encodeURIComponent(item.asset_id)}/tags`, {
        method: "POST",
        body: { action: action === "accept" ? "add" : "remove", tag: item.tag },
      });
      toast(`${action === "accept" ? "Accepted" : "Rejected"} ${item.tag}`);
      const next = element.nextElementSibling || element.previousElementSibling;
      element.remove();
      next?.querySelector("button")?.focus();
    } catch (error) {
      toast(errorText(error), "error");
    }
  }

  function itemCard(item) {
    const img = h("img", { alt: "" });
    const element = h(
      "li",
      { class: "review-item", dataset: { assetId: item.asset_id, tag: item.tag } },
      h(
        "div",
        { class: "poster small" },
        img,
        h(
          "span",
          { class: "poster-fallback", "aria-hidden": "true" },
          item.media_type === "video" ? "▶" : "◼",
        ),
      ),
      h(
        "div",
        { class: "review-body" },
        h(
          "p",
          {},
          h("strong", { class: "tag-name" }, item.tag),
          " ",
          badge(item.kind, `kind-${item.kind}`),
          " on ",
          h("a", { href: href(["asset", item.asset_id]) }, item.title || item.path),
        ),
        confidenceBar(item.tag, item.confidence, item.threshold),
        item.segments && item.segments.length
          ? h(
              "p",
              { class: "muted small" },
              "Seen at ",
              item.segments
                .slice(0, 4)
                .map(([s, e]) => `${duration(s)}–${duration(e)}`)
                .join(", "),
            )
          : null,
      ),
      can("editor")
        ? h(
            "div",
            { class: "row-actions" },
            h(
              "button",
              {
                type: "button",
                class: "small primary",
                "aria-label": `Accept ${item.tag} on ${item.title || item.path}`,
                onclick: () => decide(item, element, "accept"),
              },
              "Accept",
            ),
            h(
              "button",
              {
                type: "button",
                class: "small danger",
                "aria-label": `Reject ${item.tag} on ${item.title || item.path}`,
                onclick: () => decide(item, element, "reject"),
              },
              "Reject",
            ),
          )
        : null,
    );
    showPoster(img, item.asset_id);
    return element;
  }

  async function load() {
    try {
      const body = await api("/review", { query: { limit: PAGE_SIZE, offset } });
      summary.textContent = `${plural(body.total, "tag")} to review`;
      const pager = h(
        "nav",
        { class: "pager", "aria-label": "Pages" },
        offset > 0
          ? h(
              "a",
              {
                class: "button ghost",
                href: href(["review"], { offset: Math.max(0, offset - PAGE_SIZE) }),
              },
              "← Previous",
            )
          : null,
        offset + PAGE_SIZE < body.total
          ? h(
              "a",
              { class: "button ghost", href: href(["review"], { offset: offset + PAGE_SIZE }) },
              "Next →",
            )
          : null,
      );
      replace(
        listBox,
        body.items.length
          ? [h("ul", { class: "review-list" }, body.items.map(itemCard)), pager]
          : emptyState("Nothing to review", "Every tag is clearly above or below its threshold."),
      );
    } catch (error) {
      replace(listBox, errorBox(error, "The review queue cannot be read."));
    }
  }

  load();
  return {
    update(next) {
      offset = Number.parseInt(next.params.get("offset") || "0", 10) || 0;
      load();
    },
  };
}
