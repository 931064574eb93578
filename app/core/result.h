#ifndef STK_RESULT_H
#define STK_RESULT_H

/* Result codes: one convention for every layer (nginx's NGX_* habit). 0 is
 * success in every family; each family has its own range, so a code read in
 * the wrong place can never pass for another family's, and none of them
 * looks like an HTTP status (the api maps codes to statuses in one place):
 *
 *     0               *_OK       success
 *    -1 ..   -99      DB_ERR_*   the database failed or stayed busy (store/db.h)
 *     1 ..    99      DOM_*      a refusal the client is told (domain/domain.h)
 *  1001 ..  1099      IDEM_*     what an Idempotency-Key found (store/idempotency.h)
 *  2001 ..  2099      BODY_*     what reading a request body found (http/request.h)
 *  3001 ..  3099      FIELD_*    what reading one JSON field found (api/validate.h)
 *  4001 ..  4099      API_*      what a handler's check did (api/api.h)
 *
 * Each family's header asserts that its codes stay in their range. */
#define RC_IN(v, lo, hi) ((v) >= (lo) && (v) <= (hi))
#define RC_DB_ERR(v) RC_IN((v), -99, -1)
#define RC_DOM(v) RC_IN((v), 1, 99)
#define RC_IDEM(v) RC_IN((v), 1001, 1099)
#define RC_BODY(v) RC_IN((v), 2001, 2099)
#define RC_FIELD(v) RC_IN((v), 3001, 3099)
#define RC_API(v) RC_IN((v), 4001, 4099)

#endif
