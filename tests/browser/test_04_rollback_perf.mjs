// Checklist: rollback to the old cart's import against the old routes;
// performance of every API call the page makes, measured in the browser.
import { readFileSync } from "node:fs";
import path from "node:path";
import { test, check, eq, until, makeProduct, product, cartView, auditClean, line, shownStock, warnings, cartId, settled, addVia, assertFriendly, routing, api, TOP, BASE_URL } from "./harness.mjs";

test("rollback_page_with_old_cart_on_old_routes", async (s) => {
  // The rollback page is the shop page with one import line changed.
  const safe = readFileSync(path.join(TOP, "app/web/demo/index.html"), "utf8").split("\n");
  const old = (await api("GET", "/rollback.html")).text.split("\n");
  eq(old.length, safe.length, "same page");
  const diff = safe.map((l, i) => [l, old[i]]).filter(([x, y]) => x !== y);
  eq(diff, [['import { createCart } from "/lib/safe-cart.js";', 'import { createCart } from "/lib/old-cart.js";']], "one import line differs");
  const p = await makeProduct(5, "Classic teapot");
  routing("old");
  try {
    const page = await s.page(null, "/rollback.html");
    eq(await page.evaluate(() => window.shopCart.kind), "old-cart", "the old cart runs");
    await addVia(page, p.id, 2);
    const l = await line(page, p.id);
    eq([l.quantity, l.status, l.held], [2, "plain", 0], "a plain line, nothing held");
    eq((await product(p.id)).reserved, 0, "no hold on the server");
    check(!s.answers.some((r) => r.method !== "GET" && /stock\/(reserve|release)/.test(r.url)), "no reserve/release calls");
    eq((await warnings(page)).filter((w) => w.code !== "ordered").length, 0, "no stock warnings");
    // The calls carry no decrease_stock/increase_stock.
    const bodies = s.answers.filter((r) => r.method !== "GET").map((r) => r.body);
    check(bodies.some((b) => b.includes("quantity")) && bodies.every((b) => !/(de|in)crease_stock/.test(b)), `no stock flags: ${bodies}`);
    await page.click(`[data-less="${p.id}"]`);
    await settled(page);
    eq((await line(page, p.id)).quantity, 1, "remove works");
    await page.click("#checkout");
    await settled(page);
    check(await page.isVisible("#order"), "checkout works");
    eq((await product(p.id)).stock, 4, "sold one");
    check(s.answers.filter((r) => /\/api\/cart/.test(r.url)).every((r) => r.mode === "legacy"), "served by the old routes (legacy)");
    await assertFriendly(page);
  } finally {
    routing("new");
  }
  await auditClean();
});

test("performance_of_page_api_calls", async (s) => {
  const ps = [await makeProduct(50, "Speedy pen"), await makeProduct(50, "Speedy pad")];
  const page = await s.page();
  for (let i = 0; i < 4; i++) {
    await addVia(page, ps[i % 2].id, 1);
  }
  await page.click(`[data-less="${ps[0].id}"]`);
  await settled(page);
  await page.evaluate(() => window.shopCart.refresh());
  await page.waitForTimeout(3500); // at least one poll of stock and cart
  await page.click("#checkout");
  await settled(page);
  s.perfBefore = await page.evaluate(() => window.__api);
  await page.reload();
  await page.waitForFunction(() => window.shopCart && document.body.dataset.ready === "true");
  await page.waitForTimeout(500);
  // Both documents' entries: the first page's were read before the reload.
  const t = await page.evaluate(() => window.__api);
  const all = [...(s.perfBefore || []), ...t];
  check(all.length >= 10, `enough calls measured: ${all.length}`);
  const ms = all.map((e) => e.ms).sort((a, b) => a - b);
  const pct = (q) => ms[Math.min(ms.length - 1, Math.floor(q * ms.length))];
  const slow = all.filter((e) => e.ms >= 500).map((e) => `${e.url.replace(BASE_URL, "")} ${e.ms.toFixed(0)} ms`);
  console.log(`  performance: ${ms.length} API calls measured in the browser; median ${pct(0.5).toFixed(1)} ms, p95 ${pct(0.95).toFixed(1)} ms, max ${ms[ms.length - 1].toFixed(1)} ms; ${slow.length} at or over 500 ms${slow.length ? ": " + slow.join(", ") : ""}`);
  check(ms[ms.length - 1] < 2000, `a call took ${ms[ms.length - 1].toFixed(0)} ms (limit 2000 ms on this shared machine)`);
  await assertFriendly(page);
  await auditClean();
});
