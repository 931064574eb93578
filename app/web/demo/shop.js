// The demo storefront's page code: plain DOM over the cart store, the way a
// LAMP shop's template would use it. It works with either cart module
// (safe-cart.js or old-cart.js); the page's <script> picks one.
//
// Elements are built once and updated in place, so a keyboard user's focus
// stays where it was when the cart or the stock changes.

const money = (cents) => "$" + (cents / 100).toFixed(2);

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") e.className = v;
    else if (k === "text") e.textContent = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v);
  }
  for (const c of children) e.append(c);
  return e;
}

function countdown(ms) {
  const s = Math.max(0, Math.floor(ms / 1000));
  const m = Math.floor(s / 60);
  return `${m}:${String(s % 60).padStart(2, "0")}`;
}

export async function mountShop(doc, cart, opts = {}) {
  const $ = (id) => doc.getElementById(id);
  const productsEl = $("products");
  const linesEl = $("cart-lines");
  const warningsEl = $("warnings");
  const summaryEl = $("cart-summary");
  const checkoutBtn = $("checkout");
  const orderEl = $("order");
  const productRows = new Map();
  const lineRows = new Map();
  const warningRows = new Map();
  const body = doc.body;

  checkoutBtn.addEventListener("click", () => cart.checkout());

  function productRow(p) {
    const qty = el("input", { type: "number", min: "1", max: "1000", value: "1", id: `qty-${p.id}`, class: "qty", inputmode: "numeric" });
    const label = el("label", { for: `qty-${p.id}`, class: "visually-hidden", text: `Quantity of ${p.name}` });
    const stock = el("span", { class: "stock", "data-stock": String(p.id), "aria-label": `Stock of ${p.name}` });
    const btn = el("button", {
      type: "button", class: "add", "data-add": String(p.id),
      onclick: () => {
        const n = Number.parseInt(qty.value, 10);
        cart.add(p.id, Number.isInteger(n) ? n : 1);
      },
    }, `Add to cart`);
    btn.setAttribute("aria-label", `Add ${p.name} to cart`);
    const li = el("li", { class: "product", "data-product": String(p.id) },
      el("span", { class: "name", text: p.name }),
      el("span", { class: "price", text: money(p.price_cents) }),
      stock, label, qty, btn);
    productsEl.append(li);
    return { li, stock, btn };
  }

  function lineRow(it, name) {
    const status = el("span", { class: "hold", "data-hold": String(it.product_id) });
    const less = el("button", { type: "button", class: "less", "data-less": String(it.product_id), "aria-label": `One less ${name}`, onclick: () => cart.remove(it.product_id, 1) }, "−");
    const more = el("button", { type: "button", class: "more", "data-more": String(it.product_id), "aria-label": `One more ${name}`, onclick: () => cart.add(it.product_id, 1) }, "+");
    const rm = el("button", { type: "button", class: "remove", "data-remove": String(it.product_id), "aria-label": `Remove ${name} from cart`, onclick: () => cart.remove(it.product_id) }, "Remove");
    const again = el("button", { type: "button", class: "hold-again", "data-hold-again": String(it.product_id), "aria-label": `Hold ${name} again`, onclick: () => cart.holdAgain(it.product_id) }, "Hold again");
    const qty = el("span", { class: "line-qty", "data-line-qty": String(it.product_id) });
    const nameEl = el("span", { class: "name", text: name });
    const li = el("li", { class: "line", "data-line": String(it.product_id) }, nameEl, less, qty, more, rm, status, again);
    // The name may arrive later (a product list loaded after the cart).
    const rename = (n) => {
      if (nameEl.textContent === n) return;
      nameEl.textContent = n;
      less.setAttribute("aria-label", `One less ${n}`);
      more.setAttribute("aria-label", `One more ${n}`);
      rm.setAttribute("aria-label", `Remove ${n} from cart`);
      again.setAttribute("aria-label", `Hold ${n} again`);
    };
    return { li, qty, status, again, less, rename };
  }

  function holdText(it, s) {
    switch (it.status) {
      case "pending": return "Updating…";
      case "local": return "Saved on this device, not held";
      case "plain": return "";
      case "expired": return "Hold expired";
      case "not-held": return s.mode === "legacy" ? "Not held" : "Not held";
      case "partly-held": return `${it.held} of ${it.quantity} held for ${countdown(it.expires_at - Date.now())}`;
      default: return `Held for ${countdown(it.expires_at - Date.now())}`;
    }
  }

  function render(s) {
    body.dataset.ready = String(!!s.ready);
    body.dataset.mode = s.mode;
    body.dataset.fallback = String(!!s.isUsingFallback);
    body.dataset.busy = String(!!s.busy);
    body.dataset.cart = s.cartId || "";
    // Products and their live stock.
    for (const id of s.watched) {
      const p = s.products[id];
      if (!p) continue;
      let row = productRows.get(id);
      if (!row) productRows.set(id, (row = productRow(p)));
      const st = s.stock[id];
      const text = st ? (st.available > 0 ? `${st.available} in stock` : "Sold out") : "";
      if (row.stock.textContent !== text) row.stock.textContent = text;
      row.stock.dataset.available = st ? String(st.available) : "";
    }
    // Cart lines.
    const seen = new Set();
    for (const it of s.items) {
      if (it.quantity <= 0 && it.status !== "pending") continue;
      seen.add(it.product_id);
      const name = s.products[it.product_id] ? s.products[it.product_id].name : `Product ${it.product_id}`;
      let row = lineRows.get(it.product_id);
      if (!row) {
        lineRows.set(it.product_id, (row = lineRow(it, name)));
        linesEl.append(row.li);
      }
      row.rename(name);
      row.qty.textContent = String(it.quantity);
      row.li.dataset.status = it.status;
      row.li.dataset.quantity = String(it.quantity);
      row.li.dataset.held = String(it.held || 0);
      row.status.textContent = holdText(it, s);
      const offer = s.mode === "stock" && !s.isUsingFallback && (it.status === "expired" || it.status === "not-held" || it.status === "partly-held");
      row.again.hidden = !offer;
      row.less.disabled = it.quantity <= 0;
    }
    for (const [pid, row] of lineRows) {
      if (!seen.has(pid)) {
        // Keep the keyboard user's focus on the cart when a line goes away.
        const hadFocus = row.li.contains(doc.activeElement);
        row.li.remove();
        lineRows.delete(pid);
        if (hadFocus) checkoutBtn.focus();
      }
    }
    $("cart-empty").hidden = s.items.some((i) => i.quantity > 0);
    summaryEl.textContent = `${s.count} item${s.count === 1 ? "" : "s"}, total ${money(s.total_cents)}`;
    const hint = $("hold-hint");
    if (hint) {
      // STOCK_RESERVATION_TIMEOUT is only this hint; each line's countdown
      // comes from the server's reserved_until.
      const mins = Math.round((s.config.STOCK_RESERVATION_TIMEOUT || 0) / 60000);
      hint.hidden = !(s.config.ENABLE_STOCK_MANAGEMENT !== false && s.mode === "stock" && !s.isUsingFallback && mins > 0);
      hint.textContent = `What you add is held for you for about ${mins} minutes.`;
    }
    checkoutBtn.disabled = !s.items.some((i) => i.quantity > 0);
    // Warnings: the aria-live region announces what is added to it.
    const ws = new Set();
    for (const w of s.warnings) {
      ws.add(w.id);
      if (warningRows.has(w.id)) continue;
      const close = el("button", { type: "button", class: "dismiss", "aria-label": "Dismiss this message", onclick: () => cart.dismissWarning(w.id) }, "×");
      const li = el("li", { class: `warning ${w.level}`, "data-code": w.code }, el("span", { class: "msg", text: w.message }), close);
      warningRows.set(w.id, li);
      warningsEl.append(li);
    }
    for (const [id, li] of warningRows) {
      if (!ws.has(id)) {
        li.remove();
        warningRows.delete(id);
      }
    }
    if (s.order) {
      orderEl.hidden = false;
      orderEl.textContent = `Order ${s.order.order_id}: ${s.order.items.reduce((a, i) => a + i.quantity, 0)} items, ${money(s.order.total_cents)}.`;
    } else orderEl.hidden = true;
    const note = $("mode-note");
    if (note) {
      note.textContent = s.config.ENABLE_STOCK_MANAGEMENT === false ? "Cart: classic (nothing is held)"
        : s.isUsingFallback ? "Cart: saved on this device" : s.mode === "legacy" ? "Cart: items not held" : "Cart: items held for you";
    }
  }

  cart.subscribe(render);
  // Countdowns tick once a second, from reserved_until (never announced).
  setInterval(() => render(cart.getState()), 1000);
  render(cart.getState());
  await cart.loadProducts();
  await cart.start();
  if (opts.onReady) opts.onReady(cart);
  return cart;
}
