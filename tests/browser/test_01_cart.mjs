// Checklist: add to cart holds stock, remove gives it back; overselling is
// impossible when several shoppers race for the last units.
import { test, check, eq, until, makeProduct, product, cartView, auditClean, line, shownStock, warnings, cartId, settled, addVia, assertFriendly } from "./harness.mjs";

test("add_holds_remove_gives_back", async (s) => {
  const p = await makeProduct(5, "Holdable lamp");
  const page = await s.page();
  eq(await shownStock(page, p.id), 5, "stock shown at load");
  await addVia(page, p.id, 2);
  const l = await line(page, p.id);
  eq([l.status, l.quantity, l.held], ["held", 2, 2], "the line is held");
  check(/Held for (29|30):\d\d/.test(l.text), `countdown shown from reserved_until: ${l.text}`);
  await until(async () => (await shownStock(page, p.id)) === 3, 2000, "page stock 5 -> 3");
  const srv = await product(p.id);
  eq([srv.reserved, srv.available], [2, 3], "the server holds 2");
  const v = await cartView(await cartId(page));
  eq(v.items.map((i) => [i.product_id, i.quantity, i.reserved]), [[p.id, 2, 2]], "cart view");
  // Remove one, then the rest: the stock comes back each time.
  await page.click(`[data-less="${p.id}"]`);
  await settled(page);
  await until(async () => (await shownStock(page, p.id)) === 4, 2000, "page stock back to 4");
  await page.click(`[data-remove="${p.id}"]`);
  await settled(page);
  check((await line(page, p.id)) === null, "line gone");
  await until(async () => (await shownStock(page, p.id)) === 5, 2000, "page stock back to 5");
  eq((await product(p.id)).reserved, 0, "nothing held on the server");
  await assertFriendly(page);
  await auditClean();
});

test("race_for_last_units", async (s) => {
  const units = 3, shoppers = 6;
  const p = await makeProduct(units, "Last-chance sneakers");
  const pages = [];
  const t0 = Date.now();
  for (let i = 0; i < shoppers; i++) pages.push(await s.page());
  console.log(`  ${shoppers} pages open in ${Date.now() - t0} ms`);
  // Every shopper clicks at once.
  await Promise.all(pages.map((pg) => pg.click(`[data-add="${p.id}"]`)));
  await Promise.all(pages.map((pg) => settled(pg)));
  console.log(`  all answered in ${Date.now() - t0} ms`);
  let won = 0, lost = 0;
  for (const pg of pages) {
    const l = await line(pg, p.id);
    const ws = await warnings(pg);
    if (l && l.status === "held" && l.quantity === 1) won++;
    else {
      check(l === null, `a refused shopper has no line: ${JSON.stringify(l)}`);
      const w = ws.find((x) => x.code === "insufficient_stock");
      check(w && /sold out|Only \d+ left/.test(w.text) && w.text.includes("Last-chance sneakers"), `friendly refusal: ${JSON.stringify(ws)}`);
      lost++;
    }
    await assertFriendly(pg);
  }
  console.log(`  race: ${shoppers} shoppers, ${units} units: ${won} held, ${lost} told it is sold out`);
  eq([won, lost], [units, shoppers - units], "exactly as many succeed as there were units");
  const srv = await product(p.id);
  eq([srv.reserved, srv.available], [units, 0], "all units held, none oversold");
  await auditClean();
});
