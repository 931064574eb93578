// The demo shop's React page: the same shop through the React binding
// (SafeCartProvider / useSafeCart), bundled by `make` with esbuild into
// app/web/build/react-shop.js. A React shop rolls back by changing the one
// import line below to:
//   import { CartProvider as SafeCartProvider, useCart as useSafeCart } from "../old-cart-react.js";
import { useEffect, useState } from "react";
import { createRoot } from "react-dom/client";
import { SafeCartProvider, useSafeCart } from "../safe-cart-react.js";
import config from "/config.js";

const money = (c) => "$" + (c / 100).toFixed(2);

function useNow() {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(t);
  }, []);
  return now;
}

function Products() {
  const { products, stock, add } = useSafeCart();
  const [qty, setQty] = useState({});
  return (
    <ul id="products">
      {Object.values(products).map((p) => {
        const st = stock[p.id];
        return (
          <li className="product" key={p.id} data-product={p.id}>
            <span className="name">{p.name}</span>
            <span className="price">{money(p.price_cents)}</span>
            <span className="stock" data-stock={p.id} data-available={st ? st.available : ""}>{st ? (st.available > 0 ? `${st.available} in stock` : "Sold out") : ""}</span>
            <label htmlFor={`qty-${p.id}`} className="visually-hidden">Quantity of {p.name}</label>
            <input id={`qty-${p.id}`} className="qty" type="number" min="1" max="1000" value={qty[p.id] ?? "1"} onChange={(e) => setQty({ ...qty, [p.id]: e.target.value })} />
            <button type="button" className="add" data-add={p.id} aria-label={`Add ${p.name} to cart`} onClick={() => add(p.id, Number.parseInt(qty[p.id] ?? "1", 10) || 1)}>Add to cart</button>
          </li>
        );
      })}
    </ul>
  );
}

function holdText(it, now) {
  const left = (t) => {
    const s = Math.max(0, Math.floor((t - now) / 1000));
    return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
  };
  switch (it.status) {
    case "pending": return "Updating…";
    case "local": return "Saved on this device, not held";
    case "plain": return "";
    case "expired": return "Hold expired";
    case "not-held": return "Not held";
    case "partly-held": return `${it.held} of ${it.quantity} held for ${left(it.expires_at)}`;
    default: return `Held for ${left(it.expires_at)}`;
  }
}

function Cart() {
  const { items, products, add, remove, checkout, holdAgain, total, count, held, mode, isUsingFallback, order } = useSafeCart();
  const now = useNow();
  const lines = items.filter((i) => i.quantity > 0);
  return (
    <>
      {lines.length === 0 && <p id="cart-empty">Your cart is empty.</p>}
      <ul id="cart-lines">
        {lines.map((it) => {
          const name = products[it.product_id]?.name ?? `Product ${it.product_id}`;
          const offer = mode === "stock" && !isUsingFallback && ["expired", "not-held", "partly-held"].includes(it.status);
          return (
            <li className="line" key={it.product_id} data-line={it.product_id} data-status={it.status} data-quantity={it.quantity} data-held={it.held}>
              <span className="name">{name}</span>
              <button type="button" className="less" data-less={it.product_id} aria-label={`One less ${name}`} onClick={() => remove(it.product_id, 1)}>−</button>
              <span className="line-qty">{it.quantity}</span>
              <button type="button" className="more" data-more={it.product_id} aria-label={`One more ${name}`} onClick={() => add(it.product_id, 1)}>+</button>
              <button type="button" className="remove" data-remove={it.product_id} aria-label={`Remove ${name} from cart`} onClick={() => remove(it.product_id)}>Remove</button>
              <span className="hold">{holdText(it, now)}</span>
              {offer && <button type="button" className="hold-again" data-hold-again={it.product_id} onClick={() => holdAgain(it.product_id)}>Hold again</button>}
            </li>
          );
        })}
      </ul>
      <p id="cart-summary">{count} item{count === 1 ? "" : "s"} ({held} held), total {money(total)}</p>
      <button type="button" id="checkout" disabled={lines.length === 0} onClick={() => checkout()}>Check out</button>
      {order && <p id="order" role="status">Order {order.order_id}: {money(order.total_cents)}.</p>}
    </>
  );
}

function Warnings() {
  const { warnings, dismissWarning } = useSafeCart();
  return (
    <ul id="warnings" aria-live="polite" aria-relevant="additions text" aria-label="Messages">
      {warnings.map((w) => (
        <li key={w.id} className={`warning ${w.level}`} data-code={w.code}>
          <span className="msg">{w.message}</span>
          <button type="button" className="dismiss" aria-label="Dismiss this message" onClick={() => dismissWarning(w.id)}>×</button>
        </li>
      ))}
    </ul>
  );
}

function Shop() {
  const { ready, mode, isUsingFallback, cart } = useSafeCart();
  useEffect(() => {
    // For the browser tests, as on the plain page.
    window.shopCart = cart;
    document.body.dataset.ready = String(ready);
    document.body.dataset.mode = mode;
    document.body.dataset.fallback = String(isUsingFallback);
    document.body.dataset.cart = cart.getState().cartId || "";
  });
  return (
    <>
      <header>
        <h1>Demo shop (React)</h1>
        <p id="mode-note">{isUsingFallback ? "Cart: saved on this device" : mode === "legacy" ? "Cart: items not held" : "Cart: items held for you"}</p>
      </header>
      <Warnings />
      <main>
        <section aria-labelledby="products-h"><h2 id="products-h">Products</h2><Products /></section>
        <section aria-labelledby="cart-h"><h2 id="cart-h">Your cart</h2><Cart /></section>
      </main>
      <footer>The same shop through the React binding. <a href="/">Plain version</a></footer>
    </>
  );
}

createRoot(document.getElementById("root")).render(
  <SafeCartProvider options={config}>
    <Shop />
  </SafeCartProvider>,
);
