// safe-cart.js: the stock-aware cart of one shopper, against the stockd API.
// A plain ES module: no build step, no dependency. A LAMP shop loads it with
//   <script type="module">import { createCart } from "/js/safe-cart.js"; ...</script>
// Rolling back to the old cart is the same line with "old-cart.js" (README.md).
//
// One store holds the cart and notifies subscribers; bindings (React, ...)
// wrap this store and never reimplement it. The server's answer is the truth:
// holds come from the cart view, countdowns from reserved_until, stock levels
// from GET /api/stock. Nothing here touches window, document or localStorage
// before start(), so importing it during server-side rendering is safe.

const DEFAULTS = {
  API_URL: "/api",
  ENABLE_STOCK_MANAGEMENT: true,
  STOCK_RESERVATION_TIMEOUT: 1800000, // ms; display default only, reserved_until counts
  RETRY_ATTEMPTS: 3, // the client's own retries of one call (network errors and 5xx)
  FALLBACK_TO_LOCAL: true,
  STOCK_POLL_INTERVAL: 3000, // ms between stock/cart refreshes while the tab is visible
  STOCK_POLL_MAX: 60000, // the hidden tab's back-off stops here
  REQUEST_TIMEOUT: 8000, // ms before one attempt counts as "no answer"
  QUEUE_LIMIT: 200, // most writes kept while offline (oldest are reported, never dropped silently)
  storageKey: "safecart",
};

// Configuration as shops name it: options win, then NEXT_PUBLIC_* of a
// Next.js build (inlined by its bundler), then the defaults.
export function readConfig(options = {}) {
  const cfg = { ...DEFAULTS };
  const env = typeof process !== "undefined" && process && process.env ? process.env : {};
  for (const key of ["API_URL", "ENABLE_STOCK_MANAGEMENT", "STOCK_RESERVATION_TIMEOUT", "RETRY_ATTEMPTS", "FALLBACK_TO_LOCAL"]) {
    const v = env["NEXT_PUBLIC_" + key];
    if (v !== undefined && v !== "") cfg[key] = v;
  }
  for (const [k, v] of Object.entries(options)) if (v !== undefined) cfg[k] = v;
  cfg.ENABLE_STOCK_MANAGEMENT = bool(cfg.ENABLE_STOCK_MANAGEMENT);
  cfg.FALLBACK_TO_LOCAL = bool(cfg.FALLBACK_TO_LOCAL);
  cfg.RETRY_ATTEMPTS = Math.max(0, Math.min(10, int(cfg.RETRY_ATTEMPTS, 3)));
  cfg.STOCK_RESERVATION_TIMEOUT = int(cfg.STOCK_RESERVATION_TIMEOUT, 1800000);
  cfg.API_URL = String(cfg.API_URL).replace(/\/+$/, "");
  return cfg;
}

function bool(v) {
  return !(v === false || v === 0 || /^(false|0|no|off)$/i.test(String(v).trim()));
}
function int(v, dflt) {
  const n = Number.parseInt(v, 10);
  return Number.isFinite(n) ? n : dflt;
}

// One key per logical action, reused on its retries and on its replay.
export function newKey() {
  const c = globalThis.crypto;
  if (c && typeof c.randomUUID === "function") return c.randomUUID();
  const b = new Uint8Array(16);
  if (c && typeof c.getRandomValues === "function") c.getRandomValues(b);
  else for (let i = 0; i < 16; i++) b[i] = Math.floor(Math.random() * 256);
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// A memory Storage for places without localStorage (server rendering, Node).
export function memoryStorage() {
  const m = new Map();
  return {
    getItem: (k) => (m.has(k) ? m.get(k) : null),
    setItem: (k, v) => void m.set(k, String(v)),
    removeItem: (k) => void m.delete(k),
  };
}

// Sentences a shopper reads. A raw error code or a stack trace never reaches
// the page: unknown failures get a generic sentence.
function productName(state, pid) {
  const p = state.products[pid];
  return p && p.name ? p.name : "this item";
}
function onlyLeft(n) {
  return n <= 0 ? "none left" : `only ${n} left`;
}

export function createSafeCart(options = {}) {
  const cfg = readConfig(options);
  const stockOn = cfg.ENABLE_STOCK_MANAGEMENT;
  const fetchFn = options.fetch || ((...a) => globalThis.fetch(...a));
  const listeners = new Set();
  const handlers = new Map(); // event name -> Set of functions
  let storage = null;
  let channel = null;
  let started = false;
  let chain = Promise.resolve(); // writes run one at a time, in the order asked
  let timer = null;
  let expiryTimer = null;
  let pollDelay = cfg.STOCK_POLL_INTERVAL;
  let warnSeq = 0;
  let syncing = false;
  let onVisibility = null;
  let onStorage = null;
  const expiredPids = new Set(); // lines whose hold ran out while we watched

  const state = {
    ready: false,
    cartId: null,
    status: "open",
    items: [], // {product_id, quantity, reserved, reserved_until, pending, local}
    products: {}, // id -> {id, name, sku, price_cents}
    stock: {}, // id -> {stock, reserved, available, at}
    watched: [],
    mode: stockOn ? "stock" : "legacy", // what the last answer said
    isUsingFallback: false,
    queue: [], // writes kept while the API did not answer: {op, body, key, at}
    warnings: [], // {id, level, code, message, product_id}
    order: null,
    busy: false,
    lastCall: null,
    config: { ...cfg },
  };

  // --- store -------------------------------------------------------------
  let snapshotCache = null;
  function getState() {
    if (!snapshotCache) snapshotCache = Object.freeze({ ...derived(), ...state, items: state.items.map(lineView) });
    return snapshotCache;
  }
  // What a line shows: held (with its countdown), partly held, expired
  // (offer to hold again), not held (legacy mode or not holdable), local
  // (kept on this device while offline), pending (being sent).
  function lineView(it) {
    const held = liveReserved(it);
    let status = "held";
    if (it.pending) status = "pending";
    else if (it.local || state.isUsingFallback) status = "local";
    else if (!stockOn) status = "plain";
    else if (held >= it.quantity) status = "held";
    else if (expiredPids.has(it.product_id)) status = "expired";
    else if (held > 0) status = "partly-held";
    else status = "not-held";
    return { ...it, held: Math.min(held, it.quantity), status, expires_at: held > 0 ? Date.parse(it.reserved_until) : null };
  }
  function derived() {
    let count = 0, held = 0, total = 0, expiry = null;
    for (const it of state.items) {
      count += it.quantity;
      held += Math.min(it.reserved || 0, it.quantity);
      const p = state.products[it.product_id];
      if (p && Number.isFinite(p.price_cents)) total += p.price_cents * it.quantity;
      if (it.reserved > 0 && it.reserved_until && (!expiry || it.reserved_until < expiry)) expiry = it.reserved_until;
    }
    return { count, held, total_cents: total, expiry };
  }
  function changed(...events) {
    snapshotCache = null;
    const s = getState();
    for (const fn of [...listeners]) safeCall(fn, s);
    for (const e of events) emit(e, s);
  }
  function emit(name, payload) {
    const set = handlers.get(name);
    if (set) for (const fn of [...set]) safeCall(fn, payload);
  }
  function safeCall(fn, arg) {
    try {
      fn(arg);
    } catch (e) {
      // A subscriber's bug must not break the cart; keep it in the console only.
      if (typeof console !== "undefined") console.error("safe-cart subscriber failed", e);
    }
  }
  function subscribe(fn) {
    listeners.add(fn);
    return () => listeners.delete(fn);
  }
  function on(name, fn) {
    if (!handlers.has(name)) handlers.set(name, new Set());
    handlers.get(name).add(fn);
    return () => handlers.get(name).delete(fn);
  }

  // --- warnings ----------------------------------------------------------
  // A warning with a code replaces the earlier one with that code (and
  // product), so a state warning (offline, not held) is shown once.
  function warn(level, code, message, product_id = null) {
    state.warnings = state.warnings.filter((w) => !(w.code === code && w.product_id === product_id));
    const w = { id: ++warnSeq, level, code, message, product_id };
    state.warnings.push(w);
    if (state.warnings.length > 8) state.warnings.splice(0, state.warnings.length - 8);
    changed();
    emit("warning", w);
    return w;
  }
  function clearWarning(code, product_id) {
    const before = state.warnings.length;
    state.warnings = state.warnings.filter((w) => !(w.code === code && (product_id === undefined || w.product_id === product_id)));
    if (state.warnings.length !== before) changed();
  }
  function dismissWarning(id) {
    state.warnings = state.warnings.filter((w) => w.id !== id);
    changed();
  }

  // --- persistence and other tabs ------------------------------------------
  function persisted() {
    return {
      cartId: state.cartId, status: state.status, mode: state.mode,
      items: state.items.map(({ pending, ...rest }) => rest), // eslint-disable-line no-unused-vars
      isUsingFallback: state.isUsingFallback, queue: state.queue, order: state.order,
    };
  }
  function save() {
    if (!storage) return;
    const snap = persisted();
    try {
      storage.setItem(cfg.storageKey, JSON.stringify(snap));
    } catch (e) {
      // Storage full or refused (private mode): the cart still works in this tab.
    }
    if (channel) {
      try {
        channel.postMessage({ type: "sync", snap });
      } catch (e) { /* the other tabs catch up on their next refresh */ }
    }
  }
  function load() {
    if (!storage) return null;
    try {
      const raw = storage.getItem(cfg.storageKey);
      return raw ? JSON.parse(raw) : null;
    } catch (e) {
      return null;
    }
  }
  function applySnapshot(snap) {
    if (!snap || typeof snap !== "object") return;
    const wasFallback = state.isUsingFallback;
    state.cartId = snap.cartId || null;
    state.status = snap.status || "open";
    if (Array.isArray(snap.items)) state.items = snap.items.map((i) => ({ ...i, pending: false }));
    state.queue = Array.isArray(snap.queue) ? snap.queue : [];
    state.order = snap.order || null;
    if (stockOn && snap.mode && snap.mode !== state.mode) setMode(snap.mode, false);
    state.isUsingFallback = !!snap.isUsingFallback;
    if (state.isUsingFallback && !wasFallback) fallbackWarning();
    if (!state.isUsingFallback && wasFallback) {
      // Another tab replayed the queue: this one is back online too.
      clearWarning("offline");
      clearWarning("checkout_offline");
    }
    scheduleExpiry();
    changed("cart");
    if (wasFallback !== state.isUsingFallback) emit(state.isUsingFallback ? "fallback-entered" : "fallback-left", getState());
  }

  // --- HTTP --------------------------------------------------------------
  // One logical call: retried on no answer and on 5xx (jittered exponential
  // back-off) with the same Idempotency-Key; a 4xx is the answer.
  async function call(method, path, body, key, cartId = state.cartId) {
    const headers = { Accept: "application/json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (key) headers["Idempotency-Key"] = key;
    // The cart's id on every call: the canary key across origins, where the
    // cart_id cookie is a third-party cookie.
    if (cartId) headers["X-Cart-Id"] = cartId;
    const payload = body === undefined ? undefined : JSON.stringify(body);
    for (let attempt = 0; ; attempt++) {
      const r = await once(method, path, headers, payload);
      const failed = r.status === 0 || (r.status >= 500 && r.code !== "stock_management_disabled");
      if (!failed || attempt >= cfg.RETRY_ATTEMPTS) return { ...r, failed, attempts: attempt + 1, keyed: !!cartId };
      const base = Math.min(4000, 250 * 2 ** attempt);
      await sleep(base / 2 + Math.random() * (base / 2));
    }
  }
  async function once(method, path, headers, payload) {
    const ctl = typeof AbortController !== "undefined" ? new AbortController() : null;
    const t = ctl ? setTimeout(() => ctl.abort(), cfg.REQUEST_TIMEOUT) : null;
    const t0 = Date.now();
    try {
      const res = await fetchFn(cfg.API_URL + path, {
        method, headers, body: payload, credentials: "same-origin", cache: "no-store",
        signal: ctl ? ctl.signal : undefined,
      });
      const text = await res.text();
      let data = null;
      try {
        data = text ? JSON.parse(text) : null;
      } catch (e) {
        data = null; // an HTML error page from a proxy: the status speaks
      }
      const err = data && typeof data === "object" && data.error && typeof data.error === "object" ? data.error : null;
      const r = { status: res.status, data, error: err, code: err ? err.code : null, mode: res.headers.get("X-Stock-Mode"), ms: Date.now() - t0 };
      state.lastCall = { method, path, status: res.status, ms: r.ms };
      return r;
    } catch (e) {
      return { status: 0, data: null, error: null, code: null, mode: null, ms: Date.now() - t0 };
    } finally {
      if (t) clearTimeout(t);
    }
  }

  // --- modes -------------------------------------------------------------
  // Legacy mode is not a failure: the cart lives on the server, its items
  // are just not held. Coming back to stock mode, the lines are held again.
  function observeMode(r) {
    if (!stockOn || !r || r.status === 0) return;
    // Only an answer about this cart tells its mode: during a canary a call
    // that names no cart is split by the client's address instead.
    if (!r.keyed && r.code !== "stock_management_disabled") return;
    let m = r.mode === "legacy" || r.mode === "stock" ? r.mode : null;
    if (r.code === "stock_management_disabled") m = "legacy";
    if (m && m !== state.mode) setMode(m, true);
  }
  function setMode(m, act) {
    const prev = state.mode;
    state.mode = m;
    if (m === "legacy") {
      warn("warning", "not_held", "Stock is not being held for your cart right now. Your items are kept, and availability is checked at checkout.");
    } else {
      clearWarning("not_held");
      if (act && prev === "legacy") enqueue(() => holdAll("back"));
    }
    changed("mode");
  }

  // Hold every line that is not fully held, each with a fresh key (a key
  // used in legacy mode has the legacy answer stored against it).
  async function holdAll(reason) {
    if (!stockOn || state.mode !== "stock" || !state.cartId || state.isUsingFallback) return;
    const short = [];
    for (const it of state.items) {
      const want = it.quantity - liveReserved(it);
      if (want <= 0) continue;
      const r = await hold(it.product_id, want);
      if (r && r.short) short.push(r.short);
    }
    await refreshCart();
    if (short.length) {
      warn("warning", "rehold_failed", "Some items could not be held: " + short.join("; ") + ".");
    } else if (reason === "back") {
      clearWarning("rehold_failed");
      warn("info", "held_again", "Your items are held for you again.");
    }
  }
  async function hold(pid, qty) {
    const r = await call("POST", "/stock/reserve", { cart_id: state.cartId, product_id: pid, quantity: qty }, newKey());
    observeMode(r);
    if (r.status === 200) return { ok: true };
    if (r.code === "insufficient_stock") {
      const a = typeof r.error.available === "number" ? r.error.available : 0;
      return { short: `${productName(state, pid)} (${onlyLeft(a)})` };
    }
    if (r.failed) {
      enterFallback();
      return { short: `${productName(state, pid)} (the stock service is not answering)` };
    }
    if (r.code === "stock_management_disabled") return { short: `${productName(state, pid)} (stock is not being held right now)` };
    return { short: `${productName(state, pid)} (${friendly(r, pid)})` };
  }
  function liveReserved(it) {
    if (!it.reserved || !it.reserved_until) return 0;
    return Date.parse(it.reserved_until) > Date.now() ? it.reserved : 0;
  }

  // --- cart view ---------------------------------------------------------
  function applyView(view) {
    if (!view || !Array.isArray(view.items)) return;
    // A line whose hold went to 0 while its quantity stayed has expired (or
    // was released behind our back): it says so and offers to hold again.
    if (stockOn && state.mode === "stock") {
      for (const n of view.items) {
        const o = state.items.find((i) => i.product_id === n.product_id);
        if (o && o.reserved > 0 && !(n.reserved > 0) && n.quantity >= o.quantity && !o.local) {
          if (!expiredPids.has(n.product_id)) {
            expiredPids.add(n.product_id);
            warn("warning", "hold_expired", `The hold on ${productName(state, n.product_id)} has expired. Hold it again to keep it for you.`, n.product_id);
          }
        }
      }
    }
    state.cartId = view.cart_id || state.cartId;
    state.status = view.status || "open";
    state.items = view.items
      .filter((i) => i.quantity > 0)
      .map((i) => ({
        product_id: i.product_id,
        quantity: i.quantity,
        reserved: stockOn ? i.reserved || 0 : 0,
        reserved_until: stockOn ? i.reserved_until || null : null,
        pending: false,
        local: false,
      }));
    for (const it of state.items) if (liveReserved(it) >= it.quantity) expiredPids.delete(it.product_id);
    scheduleExpiry();
  }
  function setPending(pid, on) {
    let it = state.items.find((i) => i.product_id === pid);
    if (!it && on) {
      // A line being added shows as pending with nothing in it yet: on a
      // refusal nothing was added locally.
      it = { product_id: pid, quantity: 0, reserved: 0, reserved_until: null, pending: true, local: false };
      state.items.push(it);
      state.items.sort((a, b) => a.product_id - b.product_id);
    } else if (it) it.pending = on;
    if (!on) state.items = state.items.filter((i) => i.quantity > 0 || i.pending);
    changed("cart");
  }

  async function ensureCart() {
    if (state.cartId) return true;
    const r = await call("POST", "/cart", undefined, newKey(), null);
    observeMode(r);
    if (r.status === 201 || r.status === 200) {
      applyView(r.data);
      state.order = null;
      save();
      changed("cart");
      return true;
    }
    return r;
  }

  async function refreshCart() {
    if (!state.cartId || state.isUsingFallback) return;
    const r = await call("GET", "/cart/" + state.cartId, undefined, null);
    observeMode(r);
    if (r.status === 200) {
      applyView(r.data);
      save();
      changed("cart");
    } else if (r.code === "cart_not_found") {
      // The cart is gone (another database, a wiped stack): start afresh.
      state.cartId = null;
      state.items = [];
      save();
      changed("cart");
    } else if (r.failed) {
      enterFallback();
    }
  }

  // --- actions -----------------------------------------------------------
  function enqueue(fn) {
    const p = chain.then(async () => {
      state.busy = true;
      changed();
      try {
        return await fn();
      } finally {
        state.busy = false;
        changed();
      }
    });
    chain = p.catch(() => {});
    return p;
  }

  function add(productId, qty = 1) {
    const pid = Number(productId), n = Number(qty);
    if (!Number.isInteger(pid) || pid < 1 || !Number.isInteger(n) || n < 1 || n > 1000) {
      warn("error", "bad_input", "Please choose a quantity between 1 and 1000.");
      return Promise.resolve(false);
    }
    setPending(pid, true);
    clearWarning("insufficient_stock", pid);
    const key = newKey(); // one per logical action, kept through its retries and replay
    return enqueue(async () => {
      try {
        return await doAdd(pid, n, key);
      } finally {
        setPending(pid, false);
      }
    });
  }
  async function doAdd(pid, n, key) {
    if (state.isUsingFallback) return queueLocal("add", { product_id: pid, quantity: n, ...flag("decrease_stock") }, key);
    const made = await ensureCart();
    if (made !== true) return made.failed ? queueLocal("add", { product_id: pid, quantity: n, ...flag("decrease_stock") }, key) : failWith(made, pid);
    const body = { cart_id: state.cartId, product_id: pid, quantity: n, ...flag("decrease_stock") };
    const r = await call("POST", "/cart/add", body, key);
    observeMode(r);
    if (r.status === 200) {
      applyView(r.data);
      save();
      changed("cart");
      refreshStockSoon();
      return true;
    }
    if (r.code === "cart_closed" || r.code === "cart_not_found") {
      // The stored cart was checked out (perhaps in another tab): a new one,
      // and the add again under a new key, since the body names another cart.
      state.cartId = null;
      state.items = [];
      const again = await ensureCart();
      if (again !== true) return again.failed ? queueLocal("add", { product_id: pid, quantity: n, ...flag("decrease_stock") }, key) : failWith(again, pid);
      return doAdd(pid, n, newKey());
    }
    if (r.failed) return queueLocal("add", { product_id: pid, quantity: n, ...flag("decrease_stock") }, key);
    return failWith(r, pid);
  }
  function flag(name) {
    return stockOn ? { [name]: true } : {};
  }

  function remove(productId, qty) {
    const pid = Number(productId);
    const it = state.items.find((i) => i.product_id === pid);
    if (!it) return Promise.resolve(false);
    const n = qty === undefined ? it.quantity : Number(qty);
    if (!Number.isInteger(n) || n < 1) return Promise.resolve(false);
    setPending(pid, true);
    const key = newKey();
    return enqueue(async () => {
      try {
        return await doRemove(pid, Math.min(n, 1000), key);
      } finally {
        setPending(pid, false);
      }
    });
  }
  async function doRemove(pid, n, key) {
    if (state.isUsingFallback || !state.cartId) return queueLocal("remove", { product_id: pid, quantity: n, ...flag("increase_stock") }, key);
    const body = { cart_id: state.cartId, product_id: pid, quantity: n, ...flag("increase_stock") };
    const r = await call("DELETE", "/cart/remove", body, key);
    observeMode(r);
    if (r.status === 200) {
      applyView(r.data);
      save();
      changed("cart");
      refreshStockSoon();
      return true;
    }
    if (r.code === "item_not_in_cart") {
      await refreshCart();
      return true;
    }
    if (r.failed) return queueLocal("remove", body, key);
    return failWith(r, pid);
  }

  function holdAgain(productId) {
    const pid = Number(productId);
    return enqueue(async () => {
      const it = state.items.find((i) => i.product_id === pid);
      if (!it || state.isUsingFallback || state.mode !== "stock") return false;
      const want = it.quantity - liveReserved(it);
      if (want <= 0) return true;
      const r = await hold(pid, want);
      await refreshCart();
      refreshStockSoon();
      if (r && r.short) {
        warn("warning", "rehold_failed", "Could not hold " + r.short + ".", pid);
        return false;
      }
      clearWarning("rehold_failed");
      clearWarning("hold_expired", pid);
      return true;
    });
  }

  function checkout() {
    return enqueue(async () => {
      if (state.isUsingFallback) {
        warn("warning", "checkout_offline", "Checkout needs a connection to our stock service. Your cart is kept; please try again in a moment.");
        return null;
      }
      if (!state.cartId || !state.items.length) {
        warn("info", "cart_empty", "Your cart is empty.");
        return null;
      }
      const r = await call("POST", "/cart/checkout", { cart_id: state.cartId }, newKey());
      observeMode(r);
      if (r.status === 201 || r.status === 200) {
        state.order = r.data;
        state.cartId = null; // the next add opens a new cart
        state.items = [];
        state.status = "open";
        state.warnings = state.warnings.filter((w) => w.code === "not_held" || w.code === "offline");
        save();
        changed("cart");
        refreshStockSoon();
        warn("info", "ordered", `Thank you! Order ${r.data.order_id} is placed.`);
        return r.data;
      }
      if (r.failed) {
        enterFallback();
        warn("warning", "checkout_offline", "We could not place your order right now. Your cart is kept; please try again in a moment.");
        return null;
      }
      failWith(r, null);
      await refreshCart();
      return null;
    });
  }

  function failWith(r, pid) {
    const msg = friendly(r, pid);
    warn(r.code === "insufficient_stock" ? "warning" : "error", r.code === "insufficient_stock" ? "insufficient_stock" : "action_failed", msg, pid);
    if (r.code === "insufficient_stock") refreshStockSoon();
    return false;
  }
  function friendly(r, pid) {
    const name = productName(state, pid);
    switch (r.code) {
      case "insufficient_stock":
        if (Array.isArray(r.error.items)) {
          return "Some items are no longer available in that quantity: " +
            r.error.items.map((i) => `${productName(state, i.product_id)}: only ${i.available} left, you asked for ${i.requested}`).join("; ") + ".";
        }
        return r.error.available > 0 ? `Only ${r.error.available} left of ${name}.` : `Sorry, ${name} is sold out.`;
      case "quantity_limit": return `You can't have more than 1000 of ${name} in one cart.`;
      case "cart_full": return "Your cart can't take more different products.";
      case "cart_empty": return "Your cart is empty.";
      case "cart_closed": return "This cart has already been checked out.";
      case "product_not_found": return "Sorry, this product is no longer sold.";
      case "order_too_large": return "This order is too large to place in one go.";
      case "rate_limited": return "Too many requests at once; please wait a moment and try again.";
      case "stock_management_disabled": return "Stock is not being held right now.";
      default: return "Sorry, something went wrong. Please try again.";
    }
  }

  // --- fallback: a local cart while the API does not answer ---------------
  function fallbackWarning() {
    warn("warning", "offline", "We can't reach our stock service right now. Your cart is saved on this device, but the items are not held until we reconnect.");
  }
  function enterFallback() {
    if (!cfg.FALLBACK_TO_LOCAL || state.isUsingFallback) return;
    state.isUsingFallback = true;
    fallbackWarning();
    save();
    changed("cart");
    emit("fallback-entered", getState());
    schedule(Math.min(pollDelay, 2000));
  }
  function queueLocal(op, body, key) {
    if (!cfg.FALLBACK_TO_LOCAL) {
      warn("error", "action_failed", "Sorry, we can't reach our stock service. Please try again in a moment.", body.product_id);
      return false;
    }
    enterFallback();
    // Another tab may have queued meanwhile: append to what storage holds.
    const stored = load();
    if (stored && Array.isArray(stored.queue)) state.queue = stored.queue;
    if (state.queue.length >= cfg.QUEUE_LIMIT) {
      warn("error", "queue_full", "Too many changes while offline; this one was not kept. Please try again when we reconnect.", body.product_id);
      return false;
    }
    state.queue.push({ op, body, key, at: Date.now() });
    // The local cart: the line changes here; what is held on the server
    // stays as last seen until the replay says otherwise.
    let it = state.items.find((i) => i.product_id === body.product_id);
    if (op === "add") {
      if (!it) {
        it = { product_id: body.product_id, quantity: 0, reserved: 0, reserved_until: null, pending: false, local: true };
        state.items.push(it);
        state.items.sort((a, b) => a.product_id - b.product_id);
      }
      it.quantity += body.quantity;
      it.local = true;
    } else if (it) {
      it.quantity = Math.max(0, it.quantity - body.quantity);
      it.local = true;
      if (it.quantity === 0) state.items = state.items.filter((i) => i !== it);
    }
    save();
    changed("cart");
    return true;
  }

  // Replay the queued writes in order, each with its original key; what
  // could not be held is named. Runs under a Web Lock when the browser has
  // one, so two tabs never replay at once.
  async function resync() {
    if (syncing) return;
    syncing = true;
    try {
      const locks = typeof navigator !== "undefined" && navigator.locks;
      if (locks) await locks.request(cfg.storageKey + ":replay", () => replay());
      else await replay();
    } finally {
      syncing = false;
    }
  }
  let unheld = []; // lines a replay could not hold, until they are named
  async function replay() {
    const stored = load();
    if (stored && Array.isArray(stored.queue)) state.queue = stored.queue;
    if (!state.isUsingFallback && !state.queue.length) return;
    // Probe first: no answer means we stay offline and keep everything.
    const probe = state.cartId ? await call("GET", "/cart/" + state.cartId, undefined, null) : await call("GET", "/stock?ids=0", undefined, null);
    if (probe.failed) return;
    observeMode(probe);
    if (probe.code === "cart_not_found") state.cartId = null;
    while (state.queue.length) {
      const q = state.queue[0];
      if (!state.cartId) {
        const made = await ensureCart();
        if (made !== true) return;
      }
      const body = { cart_id: state.cartId, ...q.body };
      const r = q.op === "add" ? await call("POST", "/cart/add", body, q.key) : await call("DELETE", "/cart/remove", body, q.key);
      if (r.failed) return; // still down: the rest waits, in order
      observeMode(r);
      if (r.code === "insufficient_stock" && q.op === "add") {
        // Keep the shopper's items, without a hold, and say which.
        const a = typeof r.error.available === "number" ? r.error.available : 0;
        const kept = await call("POST", "/cart/add", { ...body, decrease_stock: undefined }, newKey());
        if (kept.failed) return;
        unheld.push(`${productName(state, q.body.product_id)} (${onlyLeft(a)})`);
      } else if (r.status !== 200 && r.code !== "item_not_in_cart") {
        unheld.push(`${productName(state, q.body.product_id)} (${friendly(r, q.body.product_id)})`);
      }
      state.queue.shift();
      const now = load();
      if (now && Array.isArray(now.queue)) state.queue = now.queue.filter((x) => x.key !== q.key);
      save();
    }
    // "In sync" is said with the server's cart in hand, in the same step
    // that takes the offline warning away: a shopper (or a test) never sees
    // neither. If the API goes away again first, the fallback stays and the
    // lines not held are named on the next try.
    state.isUsingFallback = false;
    await refreshCart();
    if (state.isUsingFallback) return;
    clearWarning("offline");
    clearWarning("checkout_offline");
    if (unheld.length) warn("warning", "sync_short", "Your cart is back in sync, but some items could not be held: " + unheld.join("; ") + ".");
    else warn("info", "synced", "We're reconnected and your cart is in sync.");
    unheld = [];
    save();
    changed("cart");
    emit("fallback-left", getState());
    if (productsWanted !== null) await loadProducts(productsWanted);
    refreshStockSoon();
  }

  // --- stock levels ------------------------------------------------------
  function watchProducts(list) {
    for (const p of list || []) {
      if (p && typeof p === "object") {
        state.products[p.id] = { id: p.id, name: p.name, sku: p.sku, price_cents: p.price_cents };
        if (typeof p.available === "number") state.stock[p.id] = { stock: p.stock, reserved: p.reserved, available: p.available, at: Date.now() };
      }
      const id = typeof p === "object" ? p.id : Number(p);
      if (Number.isInteger(id) && !state.watched.includes(id)) state.watched.push(id);
    }
    changed("stock");
    if (started) refreshStockSoon();
  }
  // A product list that could not be loaded (the API down as the page
  // opened) is loaded again by the refresh loop once the API answers.
  let productsWanted = null;
  async function loadProducts(limit = 100) {
    productsWanted = null;
    const all = [];
    let after = 0;
    for (let pages = 0; pages < 50; pages++) {
      const r = await call("GET", `/products?after=${after}&limit=${limit}`, undefined, null);
      observeMode(r);
      if (r.status !== 200 || !r.data || !Array.isArray(r.data.items)) {
        if (r.failed) {
          productsWanted = limit;
          enterFallback();
        }
        break;
      }
      all.push(...r.data.items);
      if (r.data.next_after == null) break;
      after = r.data.next_after;
    }
    if (all.length) watchProducts(all);
    return all;
  }
  async function refreshStock() {
    // At most 100 ids a call (the contract's limit).
    for (let i = 0; i < state.watched.length; i += 100) {
      const ids = state.watched.slice(i, i + 100).join(",");
      const r = await call("GET", "/stock?ids=" + ids, undefined, null);
      if (r.status === 200 && r.data && Array.isArray(r.data.items)) {
        const at = Date.now();
        for (const s of r.data.items) state.stock[s.product_id] = { stock: s.stock, reserved: s.reserved, available: s.available, at };
        changed("stock");
      } else {
        if (r.failed) enterFallback();
        return;
      }
    }
  }
  let soon = null;
  function refreshStockSoon() {
    if (!started || soon) return;
    soon = setTimeout(() => {
      soon = null;
      refreshStock();
    }, 50);
  }

  // The refresh loop: stock levels, the cart (holds, mode, other devices),
  // and the replay while offline. A hidden tab backs off.
  function hidden() {
    return typeof document !== "undefined" && document.visibilityState === "hidden";
  }
  function schedule(ms) {
    if (!started) return;
    if (timer) clearTimeout(timer);
    timer = setTimeout(tick, ms);
  }
  async function tick() {
    timer = null;
    try {
      if (state.isUsingFallback || state.queue.length) await resync();
      else {
        if (productsWanted !== null) await loadProducts(productsWanted);
        if (stockOn) await refreshStock();
        await enqueue(refreshCart);
      }
    } finally {
      pollDelay = hidden() ? Math.min(cfg.STOCK_POLL_MAX, pollDelay * 2) : cfg.STOCK_POLL_INTERVAL;
      schedule(state.isUsingFallback ? Math.min(pollDelay, 2000) : pollDelay);
    }
  }
  function scheduleExpiry() {
    if (!started || !stockOn) return;
    if (expiryTimer) clearTimeout(expiryTimer);
    const next = state.items.filter((i) => i.reserved > 0 && i.reserved_until).map((i) => Date.parse(i.reserved_until)).filter((t) => t > Date.now()).sort((a, b) => a - b)[0];
    if (next === undefined) return;
    // When a hold runs out the line says so and offers to hold it again.
    expiryTimer = setTimeout(() => {
      expiryTimer = null;
      for (const it of state.items) {
        if (it.reserved > 0 && it.reserved_until && Date.parse(it.reserved_until) <= Date.now()) {
          expiredPids.add(it.product_id);
          warn("warning", "hold_expired", `The hold on ${productName(state, it.product_id)} has expired. Hold it again to keep it for you.`, it.product_id);
        }
      }
      changed("cart");
      scheduleExpiry();
    }, Math.min(2 ** 31 - 1, next - Date.now() + 50));
  }

  // --- life cycle --------------------------------------------------------
  async function start() {
    if (started) return getState();
    started = true;
    storage = options.storage || (typeof localStorage !== "undefined" ? localStorage : memoryStorage());
    if (typeof BroadcastChannel !== "undefined") {
      channel = new BroadcastChannel(cfg.storageKey);
      channel.onmessage = (ev) => ev.data && ev.data.type === "sync" && applySnapshot(ev.data.snap);
    } else if (typeof window !== "undefined" && window.addEventListener) {
      onStorage = (ev) => {
        if (ev.key === cfg.storageKey && ev.newValue) {
          try {
            applySnapshot(JSON.parse(ev.newValue));
          } catch (e) { /* a foreign value under our key: ignore */ }
        }
      };
      window.addEventListener("storage", onStorage);
    }
    if (typeof document !== "undefined" && document.addEventListener) {
      onVisibility = () => {
        if (!hidden()) {
          pollDelay = cfg.STOCK_POLL_INTERVAL;
          schedule(0);
        }
      };
      document.addEventListener("visibilitychange", onVisibility);
    }
    const snap = load();
    if (snap) applySnapshot(snap);
    if (state.isUsingFallback || state.queue.length) await resync();
    else await enqueue(refreshCart);
    if (stockOn) await refreshStock();
    state.ready = true;
    changed("cart", "stock");
    if (stockOn && state.mode === "stock" && state.items.some((i) => i.reserved > 0 && liveReserved(i) === 0)) scheduleExpiry();
    schedule(pollDelay);
    return getState();
  }
  function stop() {
    started = false;
    if (timer) clearTimeout(timer);
    if (expiryTimer) clearTimeout(expiryTimer);
    if (soon) clearTimeout(soon);
    timer = expiryTimer = soon = null;
    if (channel) channel.close();
    channel = null;
    if (onStorage) window.removeEventListener("storage", onStorage);
    if (onVisibility) document.removeEventListener("visibilitychange", onVisibility);
    onStorage = onVisibility = null;
  }
  // Resolves when every write asked so far has been answered (or queued).
  function settled() {
    return chain.then(() => getState());
  }

  return {
    kind: "safe-cart",
    getState, subscribe, on, start, stop, settled,
    add, remove, checkout, holdAgain, dismissWarning,
    watchProducts, loadProducts, refreshStock, refresh: () => enqueue(refreshCart),
    isHeld: (pid) => {
      const it = state.items.find((i) => i.product_id === Number(pid));
      return !!it && liveReserved(it) >= it.quantity;
    },
  };
}

// The name both carts export, so that switching between them is one import line.
export const createCart = createSafeCart;
export default createSafeCart;
