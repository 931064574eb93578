#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/random.h"
#include "domain/domain.h"
#include "domain/hold_math.h"
#include "domain/hold_ops.h"
#include "domain/locking.h"

static const char SQL_CART_INSERT[] = "INSERT INTO carts (id) VALUES (?)";

static const char SQL_LINE_SET[] =
	"UPDATE cart_items SET quantity = ?, mode = ? WHERE cart_id = ? AND product_id = ?";

static const char SQL_LINE_DELETE[] = "DELETE FROM cart_items WHERE cart_id = ? AND product_id = ?";

void cart_view_free(cart_view *v)
{
	free(v->items);
	v->items = NULL;
	v->nitems = 0;
}

void dom_events_add(dom_events *to, const dom_events *from)
{
	to->held += from->held;
	to->released += from->released;
	to->expired += from->expired;
	to->converted += from->converted;
	to->carts_created += from->carts_created;
	to->carts_checked_out += from->carts_checked_out;
}

static const char *mode_name(stock_mode m)
{
	return m == MODE_STOCK ? "stock" : "legacy";
}

void dom_refusal_free(dom_refusal *r)
{
	free(r->shorts);
	memset(r, 0, sizeof *r);
}

static int create_body(db *d, void *arg)
{
	db_param p[] = { P_STR(arg, 32) };
	return db_exec(d, SQL_CART_INSERT, p, 1, NULL);
}

int dom_cart_create(dom_ctx *c, char id_out[CART_ID_LEN + 1])
{
	if (random_cart_id(id_out) != 0)
		return DB_ERR_OTHER;
	/* A transaction for one statement: so that, like every other change,
	 * it can commit together with an idempotent answer. */
	dom_events made = { .carts_created = 1 };
	return dom_txn(c, create_body, id_out, &made);
}

/* A view read when the cart was locked, kept up to date with the changes
 * the same transaction makes, instead of reading it again: the product's
 * item, created in the view's spare slot if missing (NULL if it is missing
 * and create is false). */
static cart_item *cart_view_item(cart_view *v, int64_t product_id, bool create)
{
	size_t i = 0;
	while (i < v->nitems && v->items[i].product_id < product_id)
		i++;
	if (i == v->nitems || v->items[i].product_id != product_id) {
		if (!create)
			return NULL;
		memmove(&v->items[i + 1], &v->items[i], (v->nitems - i) * sizeof *v->items);
		v->items[i] = (cart_item){ product_id, 0, 0, 0 };
		v->nitems++;
	}
	return &v->items[i];
}

/* An item with neither a line nor a hold leaves the view. */
static void cart_view_tidy(cart_view *v, int64_t product_id)
{
	cart_item *it = cart_view_item(v, product_id, false);
	if (it == NULL || it->quantity > 0 || it->reserved > 0)
		return;
	size_t i = (size_t)(it - v->items);
	memmove(&v->items[i], &v->items[i + 1], (v->nitems - i - 1) * sizeof *v->items);
	v->nitems--;
}

static void cart_view_set_line(cart_view *v, int64_t product_id, int64_t quantity)
{
	cart_view_item(v, product_id, true)->quantity = quantity;
	cart_view_tidy(v, product_id);
}

/* After the hold changed under the product's row lock. */
static void cart_view_set_hold(cart_view *v, int64_t product_id, int64_t reserved, int64_t until)
{
	cart_item *it = cart_view_item(v, product_id, reserved > 0);
	if (it == NULL)
		return;
	it->reserved = reserved;
	it->reserved_until = reserved > 0 ? until : 0;
	cart_view_tidy(v, product_id);
}

int dom_cart_view(dom_ctx *c, const char *cart_id, cart_view *out)
{
	DOM_REQUIRE(DOM_CART_ID_OK(cart_id));
	int found = 0;
	int rc = read_cart(c->db, cart_id, clock_now_ms(), &found, out);
	if (rc != DB_OK)
		return rc;
	return found ? DB_OK : DOM_CART_NOT_FOUND;
}

typedef struct {
	const stk_config *cfg;
	stock_mode mode;
	const char *cart_id;
	int64_t product_id, quantity;
	bool stock_flag; /* decrease_stock / increase_stock */
	cart_view *out;
	dom_refusal *why;
	dom_events ev; /* this attempt's; kept only if it commits */
} line_op;

static int add_body(db *d, void *arg)
{
	line_op *op = arg;
	memset(&op->ev, 0, sizeof op->ev);
	int64_t now = clock_now_ms();
	locked_cart cart;
	cart_view_free(op->out);
	int rc = lock_cart(d, op->cart_id, op->product_id, now, &cart, op->out);
	if (rc == DB_OK)
		rc = cart_refusal(d, op->cfg, &cart, op->product_id, op->quantity, true);
	bool hold = op->mode == MODE_STOCK && op->stock_flag;
	/* Without a hold no product lock will say whether the product exists. */
	if (rc == DB_OK && !hold)
		rc = product_refusal(d, op->product_id, DOM_OK);
	if (rc != DB_OK)
		return rc;
	const char *mode = mode_name(op->mode);
	if (!hold) {
		rc = line_add(d, op->cart_id, op->product_id, op->quantity, mode);
		if (rc == DB_OK)
			cart_view_set_line(op->out, op->product_id, cart.line + op->quantity);
		return rc;
	}

	/* The line, then the product lock, and the transaction commits right
	 * after: a hot product's throughput is 1 / (time its row lock is held). */
	hold_change h;
	rc = hold_take(d, op->cfg, op->cart_id, cart.held, op->product_id, op->quantity, mode, now, true, &h);
	op->ev.expired += h.expired;
	op->why->available = h.available;
	if (rc != DB_OK)
		return rc;
	cart_view_set_line(op->out, op->product_id, cart.line + op->quantity);
	cart_view_set_hold(op->out, op->product_id, h.reserved, h.reserved_until);
	op->ev.held += h.changed;
	return DB_OK;
}

int dom_cart_add(dom_ctx *c, stock_mode mode, const char *cart_id, int64_t product_id,
		 int64_t quantity, bool decrease_stock, cart_view *out, dom_refusal *why)
{
	DOM_REQUIRE(DOM_CART_ID_OK(cart_id));
	DOM_REQUIRE(product_id > 0 && quantity > 0);
	memset(why, 0, sizeof *why);
	memset(out, 0, sizeof *out);
	line_op op = { c->cfg, mode, cart_id, product_id, quantity, decrease_stock, out, why, { 0 } };
	int rc = dom_txn(c, add_body, &op, &op.ev);
	if (rc != DB_OK)
		cart_view_free(out);
	return rc;
}

static int remove_body(db *d, void *arg)
{
	line_op *op = arg;
	memset(&op->ev, 0, sizeof op->ev);
	int64_t now = clock_now_ms();
	locked_cart cart;
	cart_view_free(op->out);
	int rc = lock_cart(d, op->cart_id, op->product_id, now, &cart, op->out);
	if (rc != DB_OK)
		return rc;
	if (!cart.found)
		return DOM_CART_NOT_FOUND;
	if (cart.line == 0)
		return product_refusal(d, op->product_id, DOM_ITEM_NOT_IN_CART);
	if (cart.checked_out)
		return DOM_CART_CLOSED;
	int64_t removed = hold_clamp_removal(cart.line, op->quantity);
	size_t n = strlen(op->cart_id);
	if (removed == cart.line) {
		db_param p[] = { P_STR(op->cart_id, n), P_I64(op->product_id) };
		rc = db_exec(d, SQL_LINE_DELETE, p, 2, NULL);
	} else {
		const char *mode = mode_name(op->mode);
		db_param p[] = { P_I64(cart.line - removed), P_STR(mode, strlen(mode)), P_STR(op->cart_id, n),
				 P_I64(op->product_id) };
		rc = db_exec(d, SQL_LINE_SET, p, 4, NULL);
	}
	if (rc != DB_OK)
		return rc;
	cart_view_set_line(op->out, op->product_id, cart.line - removed);
	if (op->mode != MODE_STOCK || !op->stock_flag)
		return DB_OK;

	/* Give back as many held units as left the line, never more than held. */
	hold_change h;
	rc = hold_give_back(d, op->cart_id, op->product_id, removed, now, &h);
	if (rc != DB_OK)
		return rc;
	op->ev.expired += h.expired;
	op->ev.released += h.changed;
	cart_view_set_hold(op->out, op->product_id, h.reserved, h.reserved_until);
	return DB_OK;
}

int dom_cart_remove(dom_ctx *c, stock_mode mode, const char *cart_id, int64_t product_id,
		    int64_t quantity, bool increase_stock, cart_view *out)
{
	DOM_REQUIRE(DOM_CART_ID_OK(cart_id));
	DOM_REQUIRE(product_id > 0 && quantity >= 0);
	dom_refusal unused;
	memset(out, 0, sizeof *out);
	line_op op = { c->cfg, mode, cart_id, product_id, quantity, increase_stock, out, &unused, { 0 } };
	int rc = dom_txn(c, remove_body, &op, &op.ev);
	if (rc != DB_OK)
		cart_view_free(out);
	return rc;
}
