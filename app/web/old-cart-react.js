"use client";
// The React cart as shops had it before stock management, kept for
// rollback: CartProvider / CartContext / useCart over old-cart.js, with the
// same interface as safe-cart-react.js (held is 0, expiry null, no stock
// warnings, never a fallback). Switching is one import line (README.md).
import { createContext, createElement, useContext, useEffect, useMemo, useRef, useSyncExternalStore } from "react";
import { createCart } from "./old-cart.js";

export const CartContext = createContext(null);

export function CartProvider({ options, cart, loadProducts = true, children }) {
  const ref = useRef(null);
  if (!ref.current) ref.current = cart || createCart(options);
  const store = ref.current;
  const state = useSyncExternalStore(store.subscribe, store.getState, store.getState);
  useEffect(() => {
    if (loadProducts) store.loadProducts();
    store.start();
    return () => store.stop();
  }, [store, loadProducts]);
  const value = useMemo(() => ({
    items: state.items,
    add: store.add,
    remove: store.remove,
    checkout: store.checkout,
    total: state.total_cents,
    count: state.count,
    held: 0,
    expiry: null,
    warnings: state.warnings,
    isUsingFallback: false,
    mode: state.mode,
    products: state.products,
    stock: state.stock,
    order: state.order,
    ready: state.ready,
    holdAgain: store.holdAgain,
    dismissWarning: store.dismissWarning,
    cart: store,
  }), [state, store]);
  return createElement(CartContext.Provider, { value }, children);
}

export function useCart() {
  const v = useContext(CartContext);
  if (!v) throw new Error("useCart() is used outside <CartProvider>");
  return v;
}
