#ifndef STK_DOMAIN_H
#define STK_DOMAIN_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "core/config.h"
#include "core/random.h"
#include "store/db.h"
#include "store/idempotency.h"
#include "store/txn.h"

/* The stock and cart operations, each one database transaction. Nothing here
 * knows about HTTP or FastCGI: tools and tests drive it directly.
 *
 * Every operation returns DOM_OK, a positive DOM_* outcome the caller reports
 * to the client (nothing was changed), or a negative DB_ERR_* (nothing was
 * changed; the database failed or stayed busy). */
enum {
	DOM_OK = 0,
	DOM_CART_NOT_FOUND = 1,
	DOM_PRODUCT_NOT_FOUND,
	DOM_ITEM_NOT_IN_CART,
	DOM_CART_CLOSED,
	DOM_CART_EMPTY,
	DOM_CART_FULL,
	DOM_QUANTITY_LIMIT,
	DOM_INSUFFICIENT_STOCK,
	DOM_SKU_EXISTS,
	DOM_BELOW_RESERVED,
	DOM_ORDER_TOO_LARGE,
	DOM_CODE_COUNT
};
_Static_assert(RC_DOM(DOM_CART_NOT_FOUND) && RC_DOM(DOM_CODE_COUNT - 1), "DOM_* in their range (core/result.h)");

typedef enum { MODE_LEGACY = 0, MODE_STOCK = 1 } stock_mode;

/* The domain's preconditions, checked at its entry points (SQLite's habit).
 * The api validates its input before calling, so a failure is a bug in the
 * caller: the process stops (logged, abort) before a bad length reaches a
 * fixed buffer or a bad value reaches a transaction. Always on: the checks
 * cost nothing next to a round trip to the database. */
_Noreturn void dom_precondition_failed(const char *what, const char *func);
#define DOM_REQUIRE(cond)                                              \
	do {                                                           \
		if (!(cond))                                           \
			dom_precondition_failed(#cond, __func__);      \
	} while (0)
/* A cart id as the domain stores it: CART_ID_LEN characters and a NUL. */
#define DOM_CART_ID_OK(id) ((id) != NULL && strnlen((id), CART_ID_LEN + 1) == CART_ID_LEN)

/* What committed operations did, for the metrics: units of stock held,
 * released, reclaimed after expiry, sold from a hold; carts made and
 * checked out. Counted only once a transaction commits. */
typedef struct {
	int64_t held, released, expired, converted;
	int64_t carts_created, carts_checked_out;
} dom_events;

typedef struct {
	db *db;
	const stk_config *cfg;
	txn_stats stats;   /* conflicts retried, summed over the operations run */
	dom_events events; /* summed over the operations that committed */
	/* Leave a successful operation's transaction open: dom_idempotent()
	 * stores the answer in it and commits. Its events wait in `staged`
	 * until that COMMIT succeeds. */
	bool defer_commit;
	dom_events staged;
} dom_ctx;

void dom_events_add(dom_events *to, const dom_events *from);
/* An operation's events once its transaction succeeded: counted now, or,
 * with defer_commit, staged until the caller's COMMIT. */
void dom_count(dom_ctx *c, const dom_events *ev);

/* One operation, one transaction (operation.c): body runs under the retry
 * policy (its transaction left open for the caller when defer_commit is
 * set); the events it counted in *ev (may be NULL) are counted only when
 * it succeeded, through dom_count (staged until the caller's COMMIT). Every dom_* change goes through here. */
int dom_txn(dom_ctx *c, txn_body body, void *arg, const dom_events *ev);

static inline txn_policy dom_policy(const dom_ctx *c)
{
	return (txn_policy){ c->cfg->retry_attempts, c->cfg->txn_budget_ms, c->defer_commit };
}

typedef struct {
	int64_t id;
	char *sku, *name; /* owned; product_free(); may hold NUL bytes */
	size_t sku_len, name_len;
	int64_t price_cents, stock, reserved;
} product;

typedef struct {
	int64_t product_id;
	int64_t quantity;      /* the line; 0 for a hold without a line */
	int64_t reserved;      /* the cart's live hold; 0 once expired */
	int64_t reserved_until; /* epoch ms; 0 when nothing is held */
} cart_item;

typedef struct {
	char id[CART_ID_LEN + 1];
	bool checked_out;
	size_t nitems;
	cart_item *items; /* owned; cart_view_free() */
} cart_view;

typedef struct {
	int64_t product_id, requested, available;
} short_line;

typedef struct {
	int64_t product_id, quantity, price_cents;
} order_line;

typedef struct {
	int64_t order_id, total_cents;
	char cart_id[CART_ID_LEN + 1];
	size_t nlines;
	order_line *lines; /* owned; order_free() */
} order;

/* Details of a refusal, filled when an operation returns a DOM_* code. */
typedef struct {
	int64_t available;    /* DOM_INSUFFICIENT_STOCK on one product */
	size_t nshort;        /* DOM_INSUFFICIENT_STOCK at checkout */
	short_line *shorts;   /* owned; dom_refusal_free() */
} dom_refusal;

typedef struct {
	int64_t reserved, reserved_until, available;
} hold_state;

void product_free(product *p);
void cart_view_free(cart_view *v);
void order_free(order *o);
void dom_refusal_free(dom_refusal *r);

/* products.c */
int dom_product_get(dom_ctx *c, int64_t id, product *out);
/* ids: n ids; out: the known ones in ascending id order. */
int dom_products_list(dom_ctx *c, const int64_t *ids, size_t n, product **out, size_t *nout);
/* A page of the catalogue: up to limit products with id > after, ascending.
 * *more tells whether another page may follow. *out is the caller's: free
 * each with product_free, then the array. */
int dom_products_page(dom_ctx *c, int64_t after, size_t limit, product **out, size_t *nout, bool *more);
int dom_product_create(dom_ctx *c, const char *sku, size_t sku_len, const char *name, size_t name_len,
		       int64_t price_cents, int64_t stock, product *out);
/* Exactly one of is_set (stock = value) or a delta (stock += value). */
int dom_product_stock(dom_ctx *c, int64_t id, bool is_set, int64_t value, product *out);

/* cart.c */
int dom_cart_create(dom_ctx *c, char id_out[CART_ID_LEN + 1]);
int dom_cart_view(dom_ctx *c, const char *cart_id, cart_view *out);
/* add and remove fill *out with the cart as their transaction left it (read
 * inside it, so a success is never followed by a failed read). */
int dom_cart_add(dom_ctx *c, stock_mode mode, const char *cart_id, int64_t product_id,
		 int64_t quantity, bool decrease_stock, cart_view *out, dom_refusal *why);
/* quantity 0: the whole line. */
int dom_cart_remove(dom_ctx *c, stock_mode mode, const char *cart_id, int64_t product_id,
		    int64_t quantity, bool increase_stock, cart_view *out);

/* holds.c; quantity 0 on release: the whole hold. */
int dom_reserve(dom_ctx *c, const char *cart_id, int64_t product_id, int64_t quantity,
		hold_state *out, dom_refusal *why);
int dom_release(dom_ctx *c, const char *cart_id, int64_t product_id, int64_t quantity,
		hold_state *out);

/* checkout.c; *repeated is set when the cart had been checked out before. */
int dom_checkout(dom_ctx *c, const char *cart_id, order *out, bool *repeated, dom_refusal *why);

/* sweep.c: reclaim expired holds, one product per transaction, until none
 * that expired by now_ms is left, and purge old idempotency keys. A product
 * that fails is counted in failed, logged, and passed over. on_reclaim (may
 * be NULL) hears each committed reclaim at once, so a sweep killed half-way
 * has still counted what it did. Returns DB_OK, the last error met, or
 * DB_ERR_GONE when the connection was lost or replaced (by a reconnect) on
 * the way: the round then stops at once, keys not purged. */
typedef struct {
	uint64_t keys_purged;
	int64_t failed; /* products whose reclaim failed this round */
	int64_t pages;  /* pages of expired products read */
} dom_sweep_report;

int dom_sweep(dom_ctx *c, int64_t now_ms, void (*on_reclaim)(void *arg, int64_t units), void *arg,
	      dom_sweep_report *rep);

/* Live holds right now: rows and units. */
int dom_holds_active(dom_ctx *c, int64_t now_ms, int64_t *rows, int64_t *units);

/* idempotent.c: a change and its stored answer in one transaction.
 *
 * The answer is the caller's (the domain knows nothing of HTTP): status is a
 * number replayed as given, keep=false means the request failed, changed
 * nothing and must not be stored. */
typedef struct {
	int status;
	const char *body;
	size_t body_len;
	const char *set_cookie; /* may be NULL or "" */
	bool keep;
} dom_answer;

typedef struct {
	const char *key, *method, *path, *body;
	size_t body_len;
} dom_idem_request;

/* Run one request that carries an Idempotency-Key:
 *   claim the key (or find its stored answer: IDEM_REPLAY fills *stored,
 *   IDEM_MISMATCH, IDEM_BUSY); then, as one transaction, run(arg, &answer)
 *   (it calls dom_* operations, which leave their transaction open, and
 *   renders the answer), store the answer on our claim and COMMIT.
 * A deadlock or lock wait anywhere, the COMMIT included (a Galera
 * certification failure surfaces there), reruns all of it: run() must start
 * from scratch each time. Returns DB_OK (send the answer run() made last),
 * an IDEM_* above, IDEM_LOST (the claim was taken over while we ran: nothing
 * committed), DB_ERR_UNKNOWN (the connection went during COMMIT: the claim
 * stays, a retry with the key learns the outcome), or another DB_ERR_*
 * (nothing committed, the claim is released). */
int dom_idempotent(dom_ctx *c, const dom_idem_request *rq, void (*run)(void *arg, dom_answer *out), void *arg,
		   idem_stored *stored);

/* Mark carts abandoned: open, with lines, idle (no line touched) for
 * idle_ms. Each cart is counted once, by the mode of its last line change.
 * abandoned[MODE_LEGACY], abandoned[MODE_STOCK] receive the counts. */
int dom_mark_abandoned(dom_ctx *c, int64_t idle_ms, int64_t abandoned[2]);

#endif
