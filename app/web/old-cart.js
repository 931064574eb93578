// old-cart.js: the cart as shops had it before stock management, kept for
// rollback. Same interface as safe-cart.js (createCart, the store, the same
// methods and state fields), but the cart calls carry no decrease_stock /
// increase_stock, nothing is held, there are no stock warnings and no local
// fallback: stock is checked at checkout only. Switching a shop back is one
// import line (README.md):
//   import { createCart } from "/js/old-cart.js";   // was "/js/safe-cart.js"
// Nothing touches window or localStorage before start().

export function createCart(options = {}) {
  const cfg = {
    API_URL: "/api",
    storageKey: "safecart", // the same key: a rollback keeps the shopper's cart
    ...Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)),
  };
  cfg.API_URL = String(cfg.API_URL).replace(/\/+$/, "");
  const fetchFn = options.fetch || ((...a) => globalThis.fetch(...a));
  const listeners = new Set();
  const handlers = new Map();
  let storage = null;
  let chain = Promise.resolve();
  let warnSeq = 0;
  let started = false;

  const state = {
    ready: false, cartId: null, status: "open", items: [], products: {}, stock: {}, watched: [],
    mode: "legacy", isUsingFallback: false, queue: [], warnings: [], order: null, busy: false,
    lastCall: null, config: { ...cfg, ENABLE_STOCK_MANAGEMENT: false },
  };

  let snap = null;
  function getState() {
    if (!snap) {
      let count = 0, total = 0;
      for (const it of state.items) {
        count += it.quantity;
        const p = state.products[it.product_id];
        if (p) total += p.price_cents * it.quantity;
      }
      snap = Object.freeze({
        ...state, count, held: 0, total_cents: total, expiry: null,
        items: state.items.map((i) => ({ ...i, reserved: 0, reserved_until: null, held: 0, status: i.pending ? "pending" : "plain", expires_at: null })),
      });
    }
    return snap;
  }
  function changed(...events) {
    snap = null;
    const s = getState();
    for (const fn of [...listeners]) fn(s);
    for (const e of events) emit(e, s);
  }
  function emit(name, payload) {
    for (const fn of [...(handlers.get(name) || [])]) fn(payload);
  }
  function warn(level, code, message, product_id = null) {
    state.warnings = state.warnings.filter((w) => !(w.code === code && w.product_id === product_id));
    const w = { id: ++warnSeq, level, code, message, product_id };
    state.warnings.push(w);
    if (state.warnings.length > 8) state.warnings.shift();
    changed();
    emit("warning", w);
  }
  function save() {
    if (!storage) return;
    try {
      storage.setItem(cfg.storageKey, JSON.stringify({ cartId: state.cartId, status: state.status, items: state.items, mode: "legacy", isUsingFallback: false, queue: [] }));
    } catch (e) { /* the cart still works in this tab */ }
  }

  async function call(method, path, body, cartId = state.cartId) {
    const headers = { Accept: "application/json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (cartId) headers["X-Cart-Id"] = cartId;
    const t0 = Date.now();
    try {
      const res = await fetchFn(cfg.API_URL + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), credentials: "same-origin", cache: "no-store" });
      let data = null;
      try {
        data = await res.json();
      } catch (e) { /* not JSON */ }
      state.lastCall = { method, path, status: res.status, ms: Date.now() - t0 };
      const error = data && data.error && typeof data.error === "object" ? data.error : null;
      return { status: res.status, data, error, code: error ? error.code : null };
    } catch (e) {
      return { status: 0, data: null, error: null, code: null };
    }
  }
  function name(pid) {
    const p = state.products[pid];
    return p ? p.name : "this item";
  }
  function fail(r, pid) {
    let msg = "Sorry, something went wrong. Please try again.";
    if (r.status === 0 || r.status >= 500) msg = "Sorry, the shop is not answering right now. Please try again in a moment.";
    else if (r.code === "insufficient_stock" && Array.isArray(r.error.items)) {
      msg = "Some items are not available in that quantity: " + r.error.items.map((i) => `${name(i.product_id)}: only ${i.available} left`).join("; ") + ".";
    } else if (r.code === "insufficient_stock") msg = `Only ${r.error.available} left of ${name(pid)}.`;
    else if (r.code === "cart_empty") msg = "Your cart is empty.";
    else if (r.code === "quantity_limit") msg = `You can't have more than 1000 of ${name(pid)} in one cart.`;
    warn("error", "action_failed", msg, pid);
    return false;
  }
  function view(v) {
    if (!v || !Array.isArray(v.items)) return;
    state.cartId = v.cart_id;
    state.status = v.status;
    state.items = v.items.filter((i) => i.quantity > 0).map((i) => ({ product_id: i.product_id, quantity: i.quantity, pending: false, local: false }));
    save();
    changed("cart");
  }
  function enqueue(fn) {
    const p = chain.then(fn);
    chain = p.catch(() => {});
    return p;
  }
  async function ensureCart() {
    if (state.cartId) return true;
    const r = await call("POST", "/cart", undefined, null);
    if (r.status === 201) {
      view(r.data);
      return true;
    }
    return fail(r, null);
  }

  function add(productId, qty = 1) {
    const pid = Number(productId), n = Number(qty);
    return enqueue(async () => {
      if (!(await ensureCart())) return false;
      let r = await call("POST", "/cart/add", { cart_id: state.cartId, product_id: pid, quantity: n });
      if (r.code === "cart_closed" || r.code === "cart_not_found") {
        state.cartId = null;
        if (!(await ensureCart())) return false;
        r = await call("POST", "/cart/add", { cart_id: state.cartId, product_id: pid, quantity: n });
      }
      if (r.status === 200) return view(r.data), true;
      return fail(r, pid);
    });
  }
  function remove(productId, qty) {
    const pid = Number(productId);
    return enqueue(async () => {
      if (!state.cartId) return false;
      const body = { cart_id: state.cartId, product_id: pid };
      if (qty !== undefined) body.quantity = Number(qty);
      const r = await call("DELETE", "/cart/remove", body);
      if (r.status === 200) return view(r.data), true;
      if (r.code === "item_not_in_cart") return refresh(), true;
      return fail(r, pid);
    });
  }
  function checkout() {
    return enqueue(async () => {
      if (!state.cartId) return warn("info", "cart_empty", "Your cart is empty."), null;
      const r = await call("POST", "/cart/checkout", { cart_id: state.cartId });
      if (r.status === 201 || r.status === 200) {
        state.order = r.data;
        state.cartId = null;
        state.items = [];
        save();
        changed("cart");
        warn("info", "ordered", `Thank you! Order ${r.data.order_id} is placed.`);
        return r.data;
      }
      return fail(r, null), null;
    });
  }
  async function refresh() {
    if (!state.cartId) return;
    const r = await call("GET", "/cart/" + state.cartId);
    if (r.status === 200) view(r.data);
    else if (r.code === "cart_not_found") {
      state.cartId = null;
      state.items = [];
      save();
      changed("cart");
    }
  }
  async function loadProducts(limit = 100) {
    const all = [];
    let after = 0;
    for (let i = 0; i < 50; i++) {
      const r = await call("GET", `/products?after=${after}&limit=${limit}`, undefined, null);
      if (r.status !== 200) break;
      all.push(...r.data.items);
      if (r.data.next_after == null) break;
      after = r.data.next_after;
    }
    watchProducts(all);
    return all;
  }
  function watchProducts(list) {
    for (const p of list || []) {
      if (p && typeof p === "object") {
        state.products[p.id] = { id: p.id, name: p.name, sku: p.sku, price_cents: p.price_cents };
        state.stock[p.id] = { stock: p.stock, reserved: p.reserved, available: p.available, at: Date.now() };
        if (!state.watched.includes(p.id)) state.watched.push(p.id);
      }
    }
    changed("stock");
  }

  return {
    kind: "old-cart",
    getState,
    subscribe: (fn) => (listeners.add(fn), () => listeners.delete(fn)),
    on: (n, fn) => {
      if (!handlers.has(n)) handlers.set(n, new Set());
      handlers.get(n).add(fn);
      return () => handlers.get(n).delete(fn);
    },
    async start() {
      if (started) return getState();
      started = true;
      storage = options.storage || (typeof localStorage !== "undefined" ? localStorage : null);
      try {
        const s = storage && JSON.parse(storage.getItem(cfg.storageKey) || "null");
        if (s && s.cartId) state.cartId = s.cartId;
      } catch (e) { /* ignore a foreign value */ }
      await enqueue(refresh);
      state.ready = true;
      changed("cart");
      return getState();
    },
    stop() { started = false; },
    settled: () => chain.then(() => getState()),
    add, remove, checkout,
    holdAgain: async () => false, // nothing is held by the old cart
    dismissWarning(id) {
      state.warnings = state.warnings.filter((w) => w.id !== id);
      changed();
    },
    watchProducts, loadProducts,
    refreshStock: async () => {}, // the old cart shows stock as loaded with the page
    refresh: () => enqueue(refresh),
    isHeld: () => false,
  };
}

export default createCart;
