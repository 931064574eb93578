-- stockd-migration: expand
-- A whole reserve in one round trip: the cart's lock and the facts the
-- refusals need, then the hold's fast path of stockd_hold_v1 (0007), in one
-- CALL. Before it a reserve took two: the cart's lock with its lines and
-- live holds (a UNION ALL, prepared and optimised on every execution), then
-- stockd_hold_v1. docs/benchmarks.md, "A reserve in one CALL".
--
-- It never refuses. It only decides that the reserve surely passes every
-- check of the app's own (cart_refusal, hold_take in app/domain/hold_ops.c),
-- with the limits the app passes in, and takes the hold; on any doubt it
-- writes nothing and answers why it stopped, and the app runs its full path
-- in the same transaction: it reads the cart again and says which refusal
-- applies, 404 before 409, as before. So the refusals and their order stay
-- in one place, the C code. The checks here are the app's, or stricter:
-- 1. the cart's row, locked first (the lock order of app/domain/locking.h),
--    exists and is open;
-- 2. the cart's line on the product is at most p_line_max units;
-- 3. the cart's live hold on the product + p_quantity is at most p_max_hold;
-- 4. a product new to the cart (no line, no live hold) leaves it under
--    p_max_lines products: counted as lines + live holds, which counts a
--    product with both twice, so a cart near its limit takes the full path;
-- 5. then stockd_hold_v1's conditional UPDATE of the product and the hold
--    upsert, and with p_commit the COMMIT.
-- The reads of 2 to 4 are plain reads under the cart's lock, READ COMMITTED
-- (the app's level): every writer of a cart's lines and holds holds that
-- lock, so they are the latest; a hold may only expire meanwhile, which the
-- reads filter with p_now_ms.
--
-- Answers one row (outcome, held, available):
--   2, the hold's new size, the product's free units: done;
--   1, NULL, NULL: the cart passed, the product's UPDATE did not match (it
--      is missing, short of free units, or some hold of it may have
--      expired): the app's full path locks it and says why;
--   0, NULL, NULL: the cart did not surely pass: the app's full path.
--
-- SQL SECURITY INVOKER, CREATE OR REPLACE, a new name for a new behaviour:
-- as 0007. An older release never calls it.

SET SESSION sql_mode = 'STRICT_ALL_TABLES,NO_ENGINE_SUBSTITUTION';

DELIMITER //
CREATE OR REPLACE PROCEDURE stockd_reserve_v1(
  IN p_cart CHAR(32) CHARACTER SET ascii COLLATE ascii_bin,
  IN p_product BIGINT,
  IN p_quantity BIGINT,
  IN p_until_ms BIGINT,
  IN p_now_ms BIGINT,
  IN p_max_hold BIGINT,
  IN p_max_lines BIGINT,
  IN p_line_max BIGINT,
  IN p_commit BOOLEAN
)
MODIFIES SQL DATA
SQL SECURITY INVOKER
BEGIN
  DECLARE v_status VARCHAR(16) DEFAULT NULL;
  DECLARE v_lines, v_line, v_holds, v_held BIGINT DEFAULT 0;
  -- A cart that does not exist leaves v_status NULL, without a warning.
  DECLARE CONTINUE HANDLER FOR NOT FOUND SET v_status = NULL;
  -- The cart's lock, then each of its tables read once: how many rows, and
  -- the product's (one row at most per cart and product). Plain statements,
  -- not subqueries of the locking one: each subquery is optimised again on
  -- every execution, and the three cost MariaDB more than these (measured,
  -- docs/benchmarks.md). The holds' expiry is tested in the sums, not in
  -- the WHERE, so that the optimiser has only the primary key to weigh.
  SELECT status INTO v_status FROM carts WHERE id = p_cart FOR UPDATE;
  SELECT COUNT(*), COALESCE(SUM(IF(product_id = p_product, quantity, 0)), 0) INTO v_lines, v_line
    FROM cart_items WHERE cart_id = p_cart;
  SELECT COALESCE(SUM(expires_at_ms > p_now_ms), 0),
         COALESCE(SUM(IF(product_id = p_product AND expires_at_ms > p_now_ms, quantity, 0)), 0)
    INTO v_holds, v_held
    FROM stock_holds WHERE cart_id = p_cart;
  IF v_status IS NULL OR v_status <> 'open' OR v_line > p_line_max OR v_held + p_quantity > p_max_hold
     OR (v_line = 0 AND v_held = 0 AND v_lines + v_holds >= p_max_lines) THEN
    SELECT 0, NULL, NULL;
  ELSE
    UPDATE products SET reserved_stock = reserved_stock + p_quantity, next_expiry_ms = LEAST(next_expiry_ms, p_until_ms)
      WHERE id = p_product AND next_expiry_ms > p_now_ms
        AND (@stk_available := stock - reserved_stock - p_quantity) >= 0;
    IF ROW_COUNT() = 1 THEN
      INSERT INTO stock_holds (cart_id, product_id, quantity, expires_at_ms) VALUES (p_cart, p_product, p_quantity, p_until_ms)
        ON DUPLICATE KEY UPDATE quantity = quantity + VALUES(quantity), expires_at_ms = VALUES(expires_at_ms)
        RETURNING 2, quantity, @stk_available;
      IF p_commit THEN
        COMMIT;
      END IF;
    ELSE
      SELECT 1, NULL, NULL;
    END IF;
  END IF;
END //
DELIMITER ;
