#include "api/api.h"
#include "core/clock.h"

json_object *json_time_or_null(int64_t epoch_ms)
{
	if (epoch_ms <= 0)
		return NULL; /* json-c's NULL is JSON null */
	char ts[25];
	clock_format_ms(epoch_ms, ts);
	return json_object_new_string(ts);
}

json_object *view_product(const product *p)
{
	json_object *o = json_object_new_object();
	json_object_object_add(o, "id", json_object_new_int64(p->id));
	/* With their lengths: text is returned exactly, even with a NUL in it. */
	json_object_object_add(o, "sku", json_object_new_string_len(p->sku, (int)p->sku_len));
	json_object_object_add(o, "name", json_object_new_string_len(p->name, (int)p->name_len));
	json_object_object_add(o, "price_cents", json_object_new_int64(p->price_cents));
	json_object_object_add(o, "stock", json_object_new_int64(p->stock));
	json_object_object_add(o, "reserved", json_object_new_int64(p->reserved));
	json_object_object_add(o, "available", json_object_new_int64(p->stock - p->reserved));
	return o;
}

json_object *view_product_page(const product *list, size_t n, bool more)
{
	json_object *o = json_object_new_object();
	json_object *items = json_object_new_array();
	for (size_t i = 0; i < n; i++)
		json_object_array_add(items, view_product(&list[i]));
	json_object_object_add(o, "items", items);
	/* json-c's NULL is JSON null: the last page says so explicitly. */
	json_object_object_add(o, "next_after", more && n > 0 ? json_object_new_int64(list[n - 1].id) : NULL);
	return o;
}

json_object *view_cart(const cart_view *v)
{
	json_object *o = json_object_new_object();
	json_object *items = json_object_new_array();
	json_object *warnings = json_object_new_array();
	for (size_t i = 0; i < v->nitems; i++) {
		const cart_item *it = &v->items[i];
		json_object *j = json_object_new_object();
		json_object_object_add(j, "product_id", json_object_new_int64(it->product_id));
		json_object_object_add(j, "quantity", json_object_new_int64(it->quantity));
		json_object_object_add(j, "reserved", json_object_new_int64(it->reserved));
		json_object_object_add(j, "reserved_until", json_time_or_null(it->reserved_until));
		json_object_array_add(items, j);
		/* An open cart warns about every unit that could still be sold to
		 * someone else before checkout. */
		if (!v->checked_out && it->quantity > it->reserved) {
			json_object *w = json_object_new_object();
			json_object_object_add(w, "product_id", json_object_new_int64(it->product_id));
			json_object_object_add(w, "code", json_object_new_string("not_reserved"));
			json_object_object_add(w, "message", json_object_new_string(
				it->reserved == 0 ? "No units of this line are reserved."
						  : "Only part of this line is reserved."));
			json_object_object_add(w, "quantity", json_object_new_int64(it->quantity));
			json_object_object_add(w, "reserved", json_object_new_int64(it->reserved));
			json_object_array_add(warnings, w);
		}
	}
	json_object_object_add(o, "cart_id", json_object_new_string(v->id));
	json_object_object_add(o, "status", json_object_new_string(v->checked_out ? "checked_out" : "open"));
	json_object_object_add(o, "items", items);
	json_object_object_add(o, "warnings", warnings);
	return o;
}

json_object *view_order(const order *ord)
{
	json_object *o = json_object_new_object();
	json_object *items = json_object_new_array();
	for (size_t i = 0; i < ord->nlines; i++) {
		json_object *j = json_object_new_object();
		json_object_object_add(j, "product_id", json_object_new_int64(ord->lines[i].product_id));
		json_object_object_add(j, "quantity", json_object_new_int64(ord->lines[i].quantity));
		json_object_object_add(j, "price_cents", json_object_new_int64(ord->lines[i].price_cents));
		json_object_array_add(items, j);
	}
	json_object_object_add(o, "order_id", json_object_new_int64(ord->order_id));
	json_object_object_add(o, "cart_id", json_object_new_string(ord->cart_id));
	json_object_object_add(o, "items", items);
	json_object_object_add(o, "total_cents", json_object_new_int64(ord->total_cents));
	return o;
}

json_object *view_hold(const char *cart_id, int64_t product_id, const hold_state *h)
{
	json_object *o = json_object_new_object();
	json_object_object_add(o, "cart_id", json_object_new_string(cart_id));
	json_object_object_add(o, "product_id", json_object_new_int64(product_id));
	json_object_object_add(o, "reserved", json_object_new_int64(h->reserved));
	json_object_object_add(o, "reserved_until", json_time_or_null(h->reserved_until));
	json_object_object_add(o, "available", json_object_new_int64(h->available));
	return o;
}
