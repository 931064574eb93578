// The React binding: the demo shop's React page (bundled by make) over the
// same store: holds, live stock, the friendly refusal, the aria-live region.
import { test, check, eq, until, makeProduct, product, auditClean, line, shownStock, warnings, settled, addVia, assertFriendly } from "./harness.mjs";

test("react_page_uses_the_same_store", async (s) => {
  const p = await makeProduct(3, "React ruler");
  const page = await s.page(null, "/react.html");
  eq(await page.evaluate(() => window.shopCart.kind), "safe-cart", "the React page wraps safe-cart.js");
  await until(async () => (await shownStock(page, p.id)) === 3, 5000, "stock shown");
  await addVia(page, p.id, 2);
  await until(async () => { const l = await line(page, p.id); return l && l.status === "held" && l.held === 2; }, 3000, "held");
  eq((await product(p.id)).reserved, 2, "held on the server");
  await addVia(page, p.id, 5);
  await until(async () => (await warnings(page)).some((w) => /Only 1 left of React ruler/.test(w.text)), 3000, "Only 1 left");
  eq(await page.getAttribute("#warnings", "aria-live"), "polite", "aria-live");
  await page.click(`[data-remove="${p.id}"]`);
  await settled(page);
  await until(async () => (await line(page, p.id)) === null, 3000, "line removed");
  eq((await product(p.id)).reserved, 0, "given back");
  await assertFriendly(page);
  await auditClean();
});
