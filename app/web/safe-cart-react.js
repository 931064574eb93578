"use client";
// React binding of safe-cart.js for React / Next.js shops: a provider, its
// context and a hook with a plain cart context's interface (items, add,
// remove, total, count) plus the stock state (held, expiry, warnings,
// isUsingFallback). It wraps the one store of safe-cart.js and never
// reimplements it. React (18 or later) is a peer dependency of this file
// only. A client component: the store is created without touching window or
// localStorage, and started in an effect, so server-side rendering works.
import { createContext, createElement, useContext, useEffect, useMemo, useRef, useSyncExternalStore } from "react";
import { createSafeCart } from "./safe-cart.js";

export const SafeCartContext = createContext(null);

// options: the client's configuration (API_URL, ENABLE_STOCK_MANAGEMENT,
// STOCK_RESERVATION_TIMEOUT, RETRY_ATTEMPTS, FALLBACK_TO_LOCAL; a Next.js
// build's NEXT_PUBLIC_* values are read too). cart: an existing store.
export function SafeCartProvider({ options, cart, loadProducts = true, children }) {
  const ref = useRef(null);
  if (!ref.current) ref.current = cart || createSafeCart(options);
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
    held: state.held,
    expiry: state.expiry,
    warnings: state.warnings,
    isUsingFallback: state.isUsingFallback,
    mode: state.mode,
    products: state.products,
    stock: state.stock,
    order: state.order,
    ready: state.ready,
    holdAgain: store.holdAgain,
    dismissWarning: store.dismissWarning,
    cart: store,
  }), [state, store]);
  return createElement(SafeCartContext.Provider, { value }, children);
}

export function useSafeCart() {
  const v = useContext(SafeCartContext);
  if (!v) throw new Error("useSafeCart() is used outside <SafeCartProvider>");
  return v;
}
