// Building DOM nodes without HTML strings: text is always text, never markup.

/**
 * h("button", {class: "primary", onclick: fn, "aria-label": "Remove beach"}, "Remove")
 * Attributes: `class`, `text`, `on<event>` handlers, `dataset`, booleans (true sets the
 * attribute, false/null/undefined leaves it out), anything else as an attribute.
 * Children: nodes, strings (as text), arrays of them, null/false (skipped).
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "class") el.className = value;
    else if (name === "text") el.textContent = value;
    else if (name === "dataset") Object.assign(el.dataset, value);
    else if (name.startsWith("on") && typeof value === "function") {
      el.addEventListener(name.slice(2), value);
    } else if (name === "value" && "value" in el) el.value = value;
    else if (name === "checked" || name === "selected" || name === "disabled") el[name] = !!value;
    else el.setAttribute(name, value === true ? "" : String(value));
  }
  append(el, children);
  return el;
}

export function append(parent, children) {
  for (const child of [children].flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    parent.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return parent;
}

export function clear(el) {
  while (el.firstChild) el.firstChild.remove();
  return el;
}

export function replace(el, ...children) {
  clear(el);
  return append(el, children);
}

let uid = 0;
/** A fresh id for label/for and aria-* references. */
export function newId(prefix = "id") {
  uid += 1;
  return `${prefix}-${uid}`;
}
