// Unit tests of app/web/safe-cart.js and old-cart.js under Node's own test
// runner, against the real stack at $BASE_URL (nginx, stockd, MariaDB): no
// mocked API. Where a test needs the network to fail, it wraps the real
// fetch (the request still reaches the real server, or never leaves).
// Node 18 and 20.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createSafeCart, memoryStorage, readConfig } from "../../app/web/safe-cart.js";
import { createCart as createOldCart } from "../../app/web/old-cart.js";

const BASE = process.env.BASE_URL || "http://127.0.0.1:8080";
const API = BASE + "/api";

async function api(method, path, body, headers = {}) {
  const h = { ...headers };
  if (body !== undefined) h["Content-Type"] = "application/json";
  const r = await fetch(BASE + path, { method, headers: h, body: body === undefined ? undefined : JSON.stringify(body) });
  return { status: r.status, json: await r.json().catch(() => null) };
}
let n = 0;
async function product(stock, name = "Unit item") {
  n++;
  const r = await api("POST", "/api/admin/products", { sku: `U-${Date.now().toString(36)}-${process.pid}-${n}`, name: `${name} ${n}`, price_cents: 1000, stock });
  assert.equal(r.status, 201);
  return r.json;
}
async function reserved(id) {
  return (await api("GET", `/api/products/${id}`)).json.reserved;
}
async function audit() {
  const r = await api("GET", "/api/admin/audit");
  assert.equal(r.json.ok, true, JSON.stringify(r.json));
}
// A transport that records every request, and can drop the network.
function transport() {
  const t = { calls: [], down: false, loseAnswer: 0 };
  t.fetch = async (url, init) => {
    t.calls.push({ url, method: init.method, key: init.headers["Idempotency-Key"], cart: init.headers["X-Cart-Id"], body: init.body });
    if (t.before) t.before(url, init);
    if (t.down) throw new TypeError("fetch failed");
    const res = await fetch(url, init);
    if (t.loseAnswer > 0 && init.method !== "GET") {
      t.loseAnswer--; // the server did it; the answer never arrives
      throw new TypeError("fetch failed");
    }
    return res;
  };
  return t;
}
// Each store its own storage key (and so its own BroadcastChannel): two
// stores in one process are two tabs only when a test says so.
let keys = 0;
function cart(opts = {}) {
  return createSafeCart({ API_URL: API, storage: memoryStorage(), STOCK_POLL_INTERVAL: 3600000, storageKey: `unit-${process.pid}-${++keys}`, ...opts });
}

test("importing and creating touch neither window nor storage", () => {
  const boom = { getItem() { throw new Error("touched"); }, setItem() { throw new Error("touched"); }, removeItem() { throw new Error("touched"); } };
  assert.equal(typeof globalThis.window, "undefined");
  const c = createSafeCart({ storage: boom });
  const s = c.getState();
  assert.deepEqual([s.items.length, s.isUsingFallback, s.ready], [0, false, false]);
});

test("configuration: names shops use, defaults, NEXT_PUBLIC_*", () => {
  const d = readConfig();
  assert.deepEqual([d.ENABLE_STOCK_MANAGEMENT, d.STOCK_RESERVATION_TIMEOUT, d.RETRY_ATTEMPTS, d.FALLBACK_TO_LOCAL, d.API_URL], [true, 1800000, 3, true, "/api"]);
  process.env.NEXT_PUBLIC_ENABLE_STOCK_MANAGEMENT = "false";
  try {
    assert.equal(readConfig().ENABLE_STOCK_MANAGEMENT, false);
    assert.equal(readConfig({ ENABLE_STOCK_MANAGEMENT: true }).ENABLE_STOCK_MANAGEMENT, true);
  } finally {
    delete process.env.NEXT_PUBLIC_ENABLE_STOCK_MANAGEMENT;
  }
});

test("add holds, remove gives back", async () => {
  const p = await product(5);
  const c = cart();
  await c.start();
  c.watchProducts([p]);
  assert.equal(await c.add(p.id, 2), true);
  let s = c.getState();
  assert.equal(s.items.length, 1);
  assert.deepEqual([s.items[0].quantity, s.items[0].reserved, s.items[0].status], [2, 2, "held"]);
  assert.ok(Date.parse(s.items[0].reserved_until) > Date.now() + 29 * 60000, "reserved_until from the server");
  assert.deepEqual([s.count, s.held, s.total_cents], [2, 2, 2000]);
  assert.equal(await reserved(p.id), 2);
  assert.equal(await c.remove(p.id, 1), true);
  assert.equal(await reserved(p.id), 1);
  await c.remove(p.id);
  assert.equal(c.getState().items.length, 0);
  assert.equal(await reserved(p.id), 0);
  c.stop();
  await audit();
});

test("409 insufficient_stock: Only N left, nothing added, not retried", async () => {
  const p = await product(2, "Scarce");
  const t = transport();
  const c = cart({ fetch: t.fetch });
  await c.start();
  c.watchProducts([p]);
  const warned = [];
  c.on("warning", (w) => warned.push(w));
  assert.equal(await c.add(p.id, 3), false);
  assert.equal(c.getState().items.length, 0, "nothing added locally");
  assert.equal(warned.length, 1);
  assert.match(warned[0].message, /^Only 2 left of Scarce \d+\.$/);
  assert.equal(t.calls.filter((x) => x.url.endsWith("/cart/add")).length, 1, "a 4xx is never retried");
  c.stop();
  await audit();
});

test("a lost answer is retried with the same Idempotency-Key and holds once", async () => {
  const p = await product(10);
  const t = transport();
  const c = cart({ fetch: t.fetch });
  await c.start();
  await c.add(p.id, 1); // opens the cart
  t.loseAnswer = 1;
  assert.equal(await c.add(p.id, 3), true);
  const adds = t.calls.filter((x) => x.url.endsWith("/cart/add")).slice(1);
  assert.equal(adds.length, 2, "tried twice");
  assert.equal(adds[0].key, adds[1].key, "one key for the action and its retry");
  assert.equal(adds[0].body, adds[1].body);
  assert.equal(await reserved(p.id), 4, "held once");
  assert.equal(c.getState().items[0].quantity, 4);
  assert.ok(t.calls.every((x) => x.url.endsWith("/cart") || x.cart === c.getState().cartId), "X-Cart-Id on every call once the cart exists");
  c.stop();
  await audit();
});

test("no answer: retries, then the local cart; replay in order with the original keys", async () => {
  const a = await product(10), b = await product(10);
  const t = transport();
  const c = cart({ fetch: t.fetch, RETRY_ATTEMPTS: 2 });
  const events = [];
  c.on("fallback-entered", () => events.push("entered"));
  c.on("fallback-left", () => events.push("left"));
  await c.start();
  // Stopped whatever fails: a live store's probe timer would keep node
  // running after a failed assertion, and the whole suite would hang.
  try {
    c.watchProducts([a, b]);
    await c.add(a.id, 2);
    t.down = true;
    const before = t.calls.length;
    assert.equal(await c.add(b.id, 3), true, "kept locally");
    const tries = t.calls.slice(before).filter((x) => x.url.endsWith("/cart/add"));
    assert.equal(tries.length, 3, "first try and RETRY_ATTEMPTS retries");
    assert.equal(new Set(tries.map((x) => x.key)).size, 1, "one key");
    await c.remove(a.id, 1);
    let s = c.getState();
    assert.equal(s.isUsingFallback, true);
    assert.ok(s.warnings.some((w) => w.code === "offline" && /not held/.test(w.message)));
    assert.deepEqual(s.queue.map((q) => q.op), ["add", "remove"]);
    const keys = s.queue.map((q) => q.key);
    assert.deepEqual(s.items.map((i) => [i.product_id, i.quantity, i.status]), [[a.id, 1, "local"], [b.id, 3, "local"]]);
    assert.equal(await c.checkout(), null, "no checkout offline");
    t.down = false;
    // The store probes every 2 s at most while offline, and replays: given
    // up to 30 s, for a machine busy with other work.
    for (let i = 0; i < 300 && c.getState().isUsingFallback; i++) await new Promise((r) => setTimeout(r, 100));
    s = c.getState();
    assert.equal(s.isUsingFallback, false);
    assert.deepEqual(events, ["entered", "left"]);
    const replayed = t.calls.filter((x) => x.method !== "GET" && x.key && keys.includes(x.key));
    assert.ok(replayed.length >= 2, "replayed with the original keys");
    assert.deepEqual(s.items.map((i) => [i.product_id, i.quantity, i.reserved]), [[a.id, 1, 1], [b.id, 3, 3]]);
    assert.deepEqual([await reserved(a.id), await reserved(b.id)], [1, 3]);
  } finally {
    c.stop();
  }
  await audit();
});

test("down again before the replay's cart read: still offline, the line not held named once back", async () => {
  const p = await product(1, "Last lamp");
  const t = transport();
  const c = cart({ fetch: t.fetch, RETRY_ATTEMPTS: 1 });
  const entered = [];
  c.on("fallback-entered", () => entered.push(Date.now()));
  await c.start();
  try {
    c.watchProducts([p]);
    t.down = true;
    assert.equal(await c.add(p.id, 1), true, "kept locally");
    // Another shopper takes the last unit meanwhile.
    const other = (await api("POST", "/api/cart")).json.cart_id;
    assert.equal((await api("POST", "/api/cart/add", { cart_id: other, product_id: p.id, quantity: 1, decrease_stock: true })).status, 200);
    // Back for the replay's writes only: the network drops again at the
    // first read of the cart after them.
    let writes = 0, dropped = false;
    t.before = (url, init) => {
      if (init.method === "POST" && url.endsWith("/cart/add")) writes++;
      if (writes >= 2 && init.method === "GET" && /\/cart\/[0-9a-f]{32}$/.test(url)) {
        dropped = true;
        t.down = true;
      }
    };
    t.down = false;
    for (let i = 0; i < 300 && !(dropped && entered.length >= 2); i++) await new Promise((r) => setTimeout(r, 100));
    assert.ok(dropped, "the replay wrote both adds (the hold refused, the line kept) and read the cart");
    await new Promise((r) => setTimeout(r, 300)); // the replay's last step runs
    let s = c.getState();
    assert.equal(s.isUsingFallback, true, "still offline");
    assert.deepEqual(s.queue, [], "the writes are done");
    assert.ok(s.warnings.some((w) => w.code === "offline"), "the offline warning stays");
    assert.ok(!s.warnings.some((w) => w.code === "synced" || w.code === "sync_short"), "not told it is in sync: " + JSON.stringify(s.warnings));
    t.before = null;
    t.down = false;
    for (let i = 0; i < 300 && c.getState().isUsingFallback; i++) await new Promise((r) => setTimeout(r, 100));
    s = c.getState();
    assert.equal(s.isUsingFallback, false);
    assert.ok(!s.warnings.some((w) => w.code === "offline" || w.code === "synced"), JSON.stringify(s.warnings));
    const w = s.warnings.find((x) => x.code === "sync_short");
    assert.ok(w && w.message.includes(p.name) && /none left/.test(w.message), "names the line: " + JSON.stringify(s.warnings));
    assert.deepEqual(s.items.map((i) => [i.product_id, i.quantity, i.reserved]), [[p.id, 1, 0]]);
  } finally {
    c.stop();
  }
  await audit();
});

test("stock management off: exactly the old cart's calls", async () => {
  const p = await product(5);
  const t = transport();
  const c = cart({ fetch: t.fetch, ENABLE_STOCK_MANAGEMENT: false });
  await c.start();
  await c.add(p.id, 2);
  await c.remove(p.id, 1);
  assert.equal(await reserved(p.id), 0);
  assert.ok(t.calls.filter((x) => x.body).every((x) => !/(de|in)crease_stock/.test(x.body)));
  assert.equal(c.getState().items[0].status, "plain");
  c.stop();
});

test("the old cart: same interface, no holds, no flags", async () => {
  const p = await product(5);
  const t = transport();
  const old = createOldCart({ API_URL: API, storage: memoryStorage(), fetch: t.fetch });
  const safe = cart();
  for (const k of Object.keys(safe)) assert.equal(typeof old[k], typeof safe[k], `old cart has ${k}`);
  await old.start();
  await old.add(p.id, 2);
  const s = old.getState();
  assert.deepEqual([s.items[0].quantity, s.items[0].reserved, s.held, s.isUsingFallback], [2, 0, 0, false]);
  assert.equal(await reserved(p.id), 0);
  assert.ok(t.calls.filter((x) => x.body).every((x) => !/(de|in)crease_stock/.test(x.body)));
  const order = await old.checkout();
  assert.equal(order.total_cents, 2000);
  old.stop();
  await audit();
});

test("two stores on one storage (two tabs) agree", async () => {
  const storage = memoryStorage();
  const key = "tabs-" + process.pid;
  const p = await product(5);
  const one = cart({ storage, storageKey: key }), two = cart({ storage, storageKey: key });
  await one.start();
  await two.start();
  await one.add(p.id, 2);
  for (let i = 0; i < 50 && !two.getState().items.length; i++) await new Promise((r) => setTimeout(r, 20));
  assert.deepEqual(two.getState().items.map((i) => [i.product_id, i.quantity]), [[p.id, 2]]);
  assert.equal(two.getState().cartId, one.getState().cartId);
  one.stop();
  two.stop();
});
