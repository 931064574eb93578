#include "domain/hold_math.h"

#include "domain/domain.h"

int hold_can_take(int64_t held, int64_t quantity, int64_t available, int64_t max_hold)
{
	if (held + quantity > max_hold)
		return DOM_QUANTITY_LIMIT;
	if (quantity > available)
		return DOM_INSUFFICIENT_STOCK;
	return DOM_OK;
}

int64_t hold_clamp_removal(int64_t have, int64_t requested)
{
	if (requested <= 0 || requested > have)
		return have;
	return requested;
}

checkout_out checkout_plan(checkout_in in)
{
	checkout_out out;
	out.sellable = in.held + (in.available > 0 ? in.available : 0);
	out.ok = in.wanted <= out.sellable;
	out.stock_delta = -in.wanted;
	out.reserved_delta = -in.held;
	return out;
}

int order_total_add(int64_t *total, int64_t quantity, int64_t price_cents)
{
	int64_t line, sum;
	if (__builtin_mul_overflow(quantity, price_cents, &line) || __builtin_add_overflow(*total, line, &sum))
		return 0;
	*total = sum;
	return 1;
}
