// The browser suite's harness: Debian's Chromium driven by playwright-core,
// the real stack (nginx, stockd, MariaDB) started by tests/browser/run, and
// helpers that talk to the API, the database and the stack's scripts.
// Node 18 and 20: nothing newer than Node 18's standard library is used.
import { spawnSync } from "node:child_process";
import { mkdirSync } from "node:fs";
import path from "node:path";
import { chromium } from "playwright-core";

export const BASE_URL = process.env.BASE_URL || "http://127.0.0.1:8080";
export const SHOP_URL = process.env.SHOP_URL || "";
export const STACK = process.env.STACK;
export const STACK_DIR = process.env.STACK_DIR;
export const TOP = process.env.TOP;
export const ARTIFACTS = process.env.ARTIFACTS || path.join(TOP || ".", "test-artifacts", "browser");
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";

const tests = [];
export function test(name, fn) {
  tests.push({ name, fn });
}
export function registered() {
  return tests;
}

// --- assertions ----------------------------------------------------------
export class Failure extends Error {}
export function check(cond, msg) {
  if (!cond) throw new Failure(msg);
}
export function eq(a, b, msg) {
  if (JSON.stringify(a) !== JSON.stringify(b)) throw new Failure(`${msg}: expected ${JSON.stringify(b)}, got ${JSON.stringify(a)}`);
}
export async function until(fn, timeoutMs, what) {
  const t0 = Date.now();
  let last;
  for (;;) {
    try {
      last = await fn();
      if (last) return last;
    } catch (e) {
      last = e;
    }
    if (Date.now() - t0 > timeoutMs) throw new Failure(`timed out after ${timeoutMs} ms waiting for ${what} (last: ${last instanceof Error ? last.message : JSON.stringify(last)})`);
    await sleep(100);
  }
}
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// --- API from the test (loopback: the operator routes answer) -------------
export async function api(method, p, body, headers = {}) {
  const h = { ...headers };
  if (body !== undefined) h["Content-Type"] = "application/json";
  let res;
  for (let i = 0; ; i++) {
    try {
      res = await fetch(BASE_URL + p, { method, headers: h, body: body === undefined ? undefined : JSON.stringify(body) });
      break;
    } catch (e) {
      // A kept-alive connection to an nginx worker that a reload just
      // retired can close under a new request: a GET is safe to send again.
      if (method !== "GET" || i >= 2) throw e;
    }
  }
  const text = await res.text();
  let json = null;
  try {
    json = JSON.parse(text);
  } catch (e) { /* not JSON */ }
  return { status: res.status, json, headers: res.headers, text };
}
let seq = 0;
export async function makeProduct(stock, name, price = 1500) {
  seq++;
  const sku = `B-${Date.now().toString(36)}-${seq}`;
  const r = await api("POST", "/api/admin/products", { sku, name: name || `Test item ${seq}`, price_cents: price, stock });
  check(r.status === 201, `create product: ${r.status} ${r.text}`);
  return r.json;
}
export async function product(id) {
  const r = await api("GET", `/api/products/${id}`);
  check(r.status === 200, `product ${id}: ${r.status}`);
  return r.json;
}
export async function cartView(id) {
  const r = await api("GET", `/api/cart/${id}`, undefined, { "X-Cart-Id": id });
  check(r.status === 200, `cart ${id}: ${r.status} ${r.text}`);
  return r.json;
}
export async function auditClean() {
  const r = await api("GET", "/api/admin/audit");
  check(r.status === 200 && r.json.ok === true && r.json.problems.length === 0, `audit: ${r.text}`);
  return r.json;
}

// --- the stack ------------------------------------------------------------
function run(cmd, args) {
  const r = spawnSync(cmd, args, { encoding: "utf8", timeout: 180000 });
  if (r.status !== 0) throw new Failure(`${cmd} ${args.join(" ")} failed (${r.status}): ${(r.stderr || "").slice(-1500)}`);
  return r.stdout;
}
export function stack(cmd) {
  return run(STACK, [cmd, STACK_DIR]);
}
export function routing(...state) {
  return run(path.join(TOP, "deploy", "routing"), ["--stack", STACK_DIR, ...state]);
}
export function sql(q) {
  return run("mariadb", ["--no-defaults", `--socket=${STACK_DIR}/run/mysqld.sock`, "-uroot", "stockd", "-N", "-B", "-e", q]);
}

// --- the browser ------------------------------------------------------------
let browser = null;
export async function launch() {
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ["--no-sandbox"] });
  return browser;
}
export async function closeBrowser() {
  if (browser) await browser.close();
}

// Every /api/ call a page makes, measured by the browser itself (Resource
// Timing), and every answer's status and X-Stock-Mode.
const INIT = `
  window.__api = [];
  try { performance.setResourceTimingBufferSize(100000); } catch (e) {}
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) if (e.name.includes("/api/")) window.__api.push({ url: e.name, ms: e.duration, start: e.startTime });
  }).observe({ type: "resource", buffered: true });
`;

export class Session {
  constructor(name) {
    this.name = name;
    this.contexts = [];
    this.pages = [];
    this.answers = []; // {url, method, status, mode}
  }
  async context(opts = {}) {
    const c = await browser.newContext({ viewport: { width: 1200, height: 900 }, ...opts });
    await c.addInitScript(INIT);
    this.contexts.push(c);
    return c;
  }
  async page(ctx, url = "/") {
    const c = ctx || (await this.context());
    const p = await c.newPage();
    p.errors = [];
    p.on("pageerror", (e) => p.errors.push(String(e && e.stack ? e.stack : e)));
    p.on("response", (r) => {
      if (r.url().includes("/api/")) {
        this.answers.push({ page: this.pages.indexOf(p), url: r.url(), method: r.request().method(), status: r.status(), mode: r.headers()["x-stock-mode"] || null, cartHeader: r.request().headers()["x-cart-id"] || null, body: r.request().postData() || "" });
      }
    });
    this.pages.push(p);
    if (url) await openShop(p, url);
    return p;
  }
  async close(failed) {
    mkdirSync(ARTIFACTS, { recursive: true });
    const shots = [];
    for (let i = 0; i < this.pages.length; i++) {
      const p = this.pages[i];
      if (p.isClosed()) continue;
      const file = path.join(ARTIFACTS, `${this.name}${this.pages.length > 1 ? "-" + (i + 1) : ""}${failed ? "-FAILED" : ""}.png`);
      try {
        await p.screenshot({ path: file, fullPage: true });
        shots.push(file);
      } catch (e) { /* a crashed page has no picture */ }
    }
    for (const c of this.contexts) await c.close().catch(() => {});
    return shots;
  }
}

export async function openShop(page, url = "/") {
  const full = /^https?:/.test(url) ? url : BASE_URL + url;
  await page.goto(full);
  await page.waitForFunction(() => window.shopCart && document.body.dataset.ready === "true", null, { timeout: 20000 });
}

// What the shopper reads never shows an error code, a stack trace or a
// programming artefact.
const CODES = ["insufficient_stock", "cart_closed", "cart_empty", "quantity_limit", "cart_full", "cart_not_found", "product_not_found",
  "item_not_in_cart", "stock_management_disabled", "database_unavailable", "bad_gateway", "service_unavailable", "gateway_timeout",
  "invalid_request", "idempotency_key", "rate_limited", "order_too_large", "not_reserved", "payload_too_large"];
export async function assertFriendly(page) {
  const text = await page.evaluate(() => document.body.innerText);
  for (const c of CODES) check(!text.includes(c), `page shows the code ${c}: ${text}`);
  for (const re of [/HTTP\s*\d{3}/, /status \d{3}/i, /Error\b/, /Exception/, /\bat \S+ \(/, /undefined/, /\bNaN\b/, /\[object /, /\{"error"/, /TypeError|ReferenceError|SyntaxError/]) {
    check(!re.test(text), `page shows ${re}: ${text}`);
  }
  check(page.errors.length === 0, `uncaught errors on the page: ${page.errors.join("\n")}`);
  return text;
}

// Page state helpers.
export async function line(page, pid) {
  return page.evaluate((id) => {
    const li = document.querySelector(`[data-line="${id}"]`);
    return li ? { status: li.dataset.status, quantity: Number(li.dataset.quantity), held: Number(li.dataset.held), text: li.innerText } : null;
  }, pid);
}
export async function shownStock(page, pid) {
  return page.evaluate((id) => {
    const s = document.querySelector(`[data-stock="${id}"]`);
    return s && s.dataset.available !== "" ? Number(s.dataset.available) : null;
  }, pid);
}
export async function warnings(page) {
  return page.evaluate(() => Array.from(document.querySelectorAll("#warnings .warning"), (w) => ({ code: w.dataset.code, text: w.querySelector(".msg").textContent })));
}
export async function cartId(page) {
  return page.evaluate(() => document.body.dataset.cart);
}
export async function settled(page) {
  await page.evaluate(() => window.shopCart.settled());
}
export async function addVia(page, pid, qty = 1) {
  if (qty !== 1) await page.fill(`#qty-${pid}`, String(qty));
  await page.click(`[data-add="${pid}"]`);
  await settled(page);
}
