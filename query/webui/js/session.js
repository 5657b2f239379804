// Who is signed in: the API key (kept in this tab, or on this device when asked), and the
// name and role GET /auth/me tells. With no key stored on the server the UI is open.

const STORAGE_KEY = "smarttags.apiKey";
const RANKS = { reader: 1, editor: 2, admin: 3 };

export const session = {
  name: null,
  role: null, // reader | editor | admin; null until known
  anonymous: false, // the server has no keys: everyone may do everything
};

export function storedKey() {
  return sessionStorage.getItem(STORAGE_KEY) || localStorage.getItem(STORAGE_KEY) || "";
}

export function storeKey(key, remember) {
  forgetKey();
  (remember ? localStorage : sessionStorage).setItem(STORAGE_KEY, key);
}

export function forgetKey() {
  sessionStorage.removeItem(STORAGE_KEY);
  localStorage.removeItem(STORAGE_KEY);
}

export function setIdentity(me) {
  session.name = me ? me.name : null;
  session.role = me ? me.role : null;
  session.anonymous = me ? me.anonymous : false;
}

/** Whether the signed-in role may use a control that needs `role`. */
export function can(role) {
  return session.role !== null && RANKS[session.role] >= RANKS[role];
}
