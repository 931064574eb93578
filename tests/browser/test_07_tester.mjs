// Phase 2's test route: /cart/test?token=... makes this browser a tester
// in stock mode whatever the routing state; a wrong token does nothing.
import { readFileSync } from "node:fs";
import path from "node:path";
import { test, check, eq, until, makeProduct, product, auditClean, line, warnings, addVia, assertFriendly, routing, openShop, BASE_URL, STACK_DIR } from "./harness.mjs";

test("tester_page_puts_the_cart_in_stock_mode", async (s) => {
  const token = readFileSync(path.join(STACK_DIR, "tester_token"), "utf8").trim();
  check(token.length >= 16, "the stack has a tester token");
  const p = await makeProduct(5, "Tester tent");
  const q = await makeProduct(5, "Visitor tent");
  routing("old");
  try {
    // A visitor with a wrong token: nothing set, the cart stays legacy.
    const ctx1 = await s.context();
    const bad = await ctx1.newPage();
    const r = await bad.goto(`${BASE_URL}/cart/test?token=${token.slice(0, -1)}x`);
    eq(r.status(), 403, "a wrong token is refused");
    eq((await ctx1.cookies(BASE_URL)).filter((c) => /^stock_/.test(c.name)).length, 0, "no tester cookies");
    await bad.close();
    const visitor = await s.page(ctx1);
    await addVia(visitor, q.id, 1);
    eq((await line(visitor, q.id)).status, "not-held", "the visitor is in legacy mode");
    check((await warnings(visitor)).some((w) => w.code === "not_held"), "and told so");
    eq((await product(q.id)).reserved, 0, "nothing held for the visitor");
    // The tester's link: cookies set, sent on to the shop, holds in `old`.
    const page = await s.page(null, null);
    await page.goto(`${BASE_URL}/cart/test?token=${encodeURIComponent(token)}`);
    eq(new URL(page.url()).pathname, "/", "sent on to the shop");
    await openShop(page, "/");
    const names = (await page.context().cookies(BASE_URL)).map((c) => c.name).sort();
    check(names.includes("stock_mode") && names.includes("stock_tester"), `tester cookies: ${names}`);
    await addVia(page, p.id, 2);
    const l = await line(page, p.id);
    eq([l.status, l.held], ["held", 2], "the tester's cart is held although routing is old");
    eq((await product(p.id)).reserved, 2, "held on the server");
    eq(await page.evaluate(() => document.body.dataset.mode), "stock", "stock mode");
    await assertFriendly(page);
    await assertFriendly(visitor);
  } finally {
    routing("new");
  }
  await auditClean();
});
