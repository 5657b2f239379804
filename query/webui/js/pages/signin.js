// Sign in with an API key: GET /auth/me with it tells whether it is valid, and its role.

import { api } from "../api.js";
import { errorText } from "../components.js";
import { h, replace } from "../dom.js";
import { setIdentity, storeKey } from "../session.js";

export const title = "Sign in";

export function mount(container, _route, shell) {
  const key = h("input", {
    id: "api-key",
    name: "api-key",
    type: "password",
    autocomplete: "current-password",
    required: true,
    spellcheck: "false",
    "aria-describedby": "api-key-help",
  });
  const remember = h("input", { id: "remember", type: "checkbox" });
  const message = h("div", { class: "form-message", "aria-live": "polite" });
  const submit = h("button", { type: "submit", class: "primary" }, "Sign in");

  async function signIn(event) {
    event.preventDefault();
    const secret = key.value.trim();
    if (!secret) return;
    submit.disabled = true;
    replace(message);
    try {
      const me = await api("/auth/me", { key: secret });
      storeKey(secret, remember.checked);
      setIdentity(me);
      await shell.signedIn();
    } catch (error) {
      const why =
        error.status === 401 ? "That key is not valid (revoked, or mistyped)." : errorText(error);
      replace(message, h("p", { class: "notice error", role: "alert" }, why));
      key.focus();
      key.select();
    } finally {
      submit.disabled = false;
    }
  }

  replace(
    container,
    h(
      "div",
      { class: "signin" },
      h(
        "form",
        { class: "card signin-card", onsubmit: signIn },
        h("h1", {}, "Sign in"),
        h(
          "p",
          { class: "muted" },
          "This server needs an API key. Ask an administrator for one (",
          h("code", {}, "smarttags keys add NAME --role reader"),
          ").",
        ),
        h(
          "div",
          { class: "field" },
          h("label", { for: "api-key" }, "API key"),
          key,
          h(
            "p",
            { id: "api-key-help", class: "hint" },
            "Kept in this browser tab only, unless you tick the box below.",
          ),
        ),
        h(
          "div",
          { class: "field check" },
          remember,
          h("label", { for: "remember" }, "Remember on this device"),
        ),
        message,
        h("div", { class: "actions" }, submit),
      ),
    ),
  );
  setTimeout(() => key.focus(), 0);
  return {};
}
