// The app shell: who is signed in, the navigation, and which page shows.

import { api, onUnauthorized } from "./api.js";
import { errorBox, toast } from "./components.js";
import { clear, h, replace } from "./dom.js";
import * as assetPage from "./pages/asset.js";
import * as foldersPage from "./pages/folders.js";
import * as jobsPage from "./pages/jobs.js";
import * as reviewPage from "./pages/review.js";
import * as searchPage from "./pages/search.js";
import * as signinPage from "./pages/signin.js";
import * as trainingPage from "./pages/training.js";
import * as uploadPage from "./pages/upload.js";
import { go, parseHash } from "./router.js";
import { can, forgetKey, session, setIdentity } from "./session.js";

const PAGES = {
  search: searchPage,
  asset: assetPage,
  folders: foldersPage,
  upload: uploadPage,
  jobs: jobsPage,
  training: trainingPage,
  review: reviewPage,
  signin: signinPage,
};

// the navigation: [route, label, role it needs, extra condition]
const NAV = [
  ["search", "Search", "reader"],
  ["folders", "Folders", "reader"],
  ["upload", "Upload", "editor"],
  ["jobs", "Jobs", "reader"],
  ["training", "Training", "reader"],
  ["review", "Review", "reader", () => features.review],
];

const features = { review: false };
// what pages may ask of the shell
const shell = { signedIn: () => signedIn(), features };

const main = document.getElementById("main");
let current = null; // {name, instance}
let returnTo = null; // where to go after signing in

async function identify() {
  try {
    setIdentity(await api("/auth/me"));
  } catch (error) {
    if (error.status !== 401) throw error;
    setIdentity(null);
  }
}

/** The review queue shows once the server has one (GET /review answers). */
async function probeFeatures() {
  if (session.role === null) return;
  try {
    await api("/review", { query: { limit: 1 } });
    features.review = true;
  } catch {
    features.review = false;
  }
}

function renderNav(active) {
  const list = document.getElementById("nav");
  clear(list);
  if (session.role === null) return;
  for (const [name, label, role, extra] of NAV) {
    if (!can(role) || (extra && !extra())) continue;
    const here = name === active || (name === "search" && active === "asset");
    list.append(
      h(
        "li",
        {},
        h(
          "a",
          {
            href: `#/${name}`,
            "aria-current": here ? "page" : null,
            class: here ? "active" : null,
          },
          label,
        ),
      ),
    );
  }
}

function renderSession() {
  const box = document.getElementById("session");
  clear(box);
  if (session.role === null) return;
  if (session.anonymous) {
    box.append(
      h(
        "span",
        {
          class: "identity open",
          title: "No API key exists on this server: whoever reaches it may change everything",
        },
        "Open access",
      ),
    );
    return;
  }
  box.append(
    h(
      "span",
      { class: "identity" },
      h("span", { class: "identity-name" }, session.name),
      h("span", { class: `role role-${session.role}` }, session.role),
    ),
    h("button", { type: "button", class: "ghost small", onclick: signOut }, "Sign out"),
  );
}

function signOut() {
  forgetKey();
  setIdentity(null);
  features.review = false;
  renderSession();
  returnTo = null;
  go(["signin"]);
  toast("Signed out");
}

/** After a successful sign-in (pages/signin.js). */
async function signedIn() {
  await probeFeatures();
  renderSession();
  const target = returnTo && returnTo !== "#/signin" ? returnTo : "#/search";
  returnTo = null;
  if (location.hash === target) route(); // no hashchange will come
  else location.hash = target;
}

function focusHeading() {
  const heading = main.querySelector("h1");
  if (heading) {
    heading.setAttribute("tabindex", "-1");
    heading.focus({ preventScroll: true });
  }
}

function route() {
  const target = parseHash();
  if (session.role === null && target.name !== "signin") {
    returnTo = location.hash || "#/search";
    go(["signin"]);
    return;
  }
  if (session.role !== null && target.name === "signin") {
    go(["search"]);
    return;
  }
  renderNav(target.name);
  const page = PAGES[target.name];
  if (current && current.name === target.name && current.instance.update) {
    current.instance.update(target);
    return;
  }
  if (current && current.instance.destroy) current.instance.destroy();
  clear(main);
  window.scrollTo(0, 0);
  if (!page) {
    current = null;
    replace(
      main,
      h("h1", {}, "Not found"),
      h("p", {}, "There is no such page. ", h("a", { href: "#/search" }, "Go to search")),
    );
    focusHeading();
    return;
  }
  if (page.needs && !can(page.needs)) {
    current = null;
    replace(
      main,
      h("h1", {}, page.title),
      h(
        "p",
        { class: "notice" },
        `This page needs the ${page.needs} role; your key is ${session.role}.`,
      ),
    );
    focusHeading();
    return;
  }
  current = { name: target.name, instance: page.mount(main, target, shell) || {} };
  document.title = `${page.title || "smarttags"} · smarttags`;
  focusHeading();
}

onUnauthorized(() => {
  if (session.role === null) return;
  setIdentity(null);
  renderSession();
  renderNav(null);
  toast("Your key is no longer accepted: sign in again", "error");
  returnTo = location.hash;
  go(["signin"]);
});

document.getElementById("skip").addEventListener("click", () => {
  main.setAttribute("tabindex", "-1");
  main.focus();
});

async function boot() {
  try {
    await identify();
    await probeFeatures();
  } catch (error) {
    replace(main, h("h1", {}, "smarttags"), errorBox(error, "The server did not answer."));
    return;
  }
  renderSession();
  window.addEventListener("hashchange", route);
  route();
  document.body.classList.add("ready");
}

boot();
