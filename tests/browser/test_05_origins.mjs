// Same-origin and cross-origin pages: the shop on one origin, the API on
// another (API_URL=http://api.../api), CORS answered for the allowed origin
// only, and the cart identified by X-Cart-Id (no third-party cookie).
import { test, check, eq, until, makeProduct, product, cartView, auditClean, line, cartId, addVia, assertFriendly, api, BASE_URL, SHOP_URL } from "./harness.mjs";

test("same_origin_page", async (s) => {
  const p = await makeProduct(5, "Same-origin sofa");
  const page = await s.page();
  await addVia(page, p.id, 1);
  eq((await line(page, p.id)).status, "held", "held");
  const origins = new Set(s.answers.map((r) => new URL(r.url).origin));
  eq([...origins], [BASE_URL], "every API call to the page's own origin");
  const cid = await cartId(page);
  check(s.answers.filter((r) => r.url.includes("/cart/") && r.method !== "GET" || /\/cart\/[0-9a-f]{32}/.test(r.url)).every((r) => r.cartHeader === cid), "X-Cart-Id on every call naming the cart");
  const cookies = await page.context().cookies(BASE_URL);
  eq(cookies.filter((c) => c.name === "cart_id").map((c) => c.value), [cid], "the cart_id cookie is the same cart");
  await assertFriendly(page);
  await auditClean();
});

test("cross_origin_page", async (s) => {
  check(SHOP_URL && SHOP_URL !== BASE_URL, "a second origin");
  const p = await makeProduct(5, "Cross-origin chair");
  const page = await s.page(null, SHOP_URL + "/");
  eq(new URL(page.url()).origin, SHOP_URL, "the page lives on the shop's origin");
  await addVia(page, p.id, 2);
  const l = await line(page, p.id);
  eq([l.status, l.quantity, l.held], ["held", 2, 2], "held across origins");
  eq(await page.evaluate(() => document.body.dataset.mode), "stock", "X-Stock-Mode is readable (exposed)");
  const apiOrigins = new Set(s.answers.map((r) => new URL(r.url).origin));
  eq([...apiOrigins], [BASE_URL], "every API call goes to the API's origin");
  const cid = await cartId(page);
  check(s.answers.filter((r) => r.method !== "GET" && r.url.includes("/cart/add")).every((r) => r.cartHeader === cid), "X-Cart-Id on the cart calls");
  eq((await cartView(cid)).items[0].reserved, 2, "the server holds it");
  await until(async () => (await page.evaluate((id) => document.querySelector(`[data-stock="${id}"]`).dataset.available, p.id)) === "3", 5000, "live stock across origins");
  await page.click(`[data-remove="${p.id}"]`);
  await page.evaluate(() => window.shopCart.settled());
  eq((await product(p.id)).reserved, 0, "released across origins");
  // Another origin gets no CORS answer: the browser refuses to read it.
  const other = await api("GET", "/api/stock?ids=1", undefined, { Origin: "http://evil.example" });
  check(!other.headers.get("access-control-allow-origin"), "no CORS for an unlisted origin");
  const ok = await api("GET", "/api/stock?ids=1", undefined, { Origin: SHOP_URL });
  eq(ok.headers.get("access-control-allow-origin"), SHOP_URL, "CORS for the shop's origin");
  await assertFriendly(page);
  await auditClean();
});
