-- stockd-migration: expand
-- The hold's fast path as one stored procedure: one round trip instead of
-- two for a reserve, three for an add with decrease_stock (the line, the
-- product, the hold). On two cores MariaDB's CPU is the limit and each
-- round trip costs it about 20 us besides the statement itself
-- (docs/benchmarks.md, "Where the time goes"); the product's row lock is
-- held from its UPDATE to the COMMIT either way.
--
-- What it does, in the caller's transaction (READ COMMITTED, the cart's row
-- already locked by the caller):
-- 1. with p_line_mode set, the cart line += p_quantity (add);
-- 2. the conditional UPDATE of the product: it matches only while none of
--    the product's holds can have expired (next_expiry_ms > now) and
--    p_quantity units are free. The check leaves the units that stay free
--    in @stk_available: the WHERE sees the row under its lock, just before
--    the write;
-- 3. if it matched, the cart's hold += p_quantity, expiring at p_until_ms,
--    answering the hold's new size and @stk_available; otherwise one row of
--    two NULLs, and the caller takes the full path (lock, reclaim, say why),
--    with the line of step 1 already written;
-- 4. if it matched and p_commit is set, COMMIT: the hold was the
--    transaction's last write, and the product's row lock goes at once
--    instead of a round trip later. The caller treats a connection lost
--    during such a CALL as a COMMIT lost in flight: outcome unknown.
--
-- SQL SECURITY INVOKER: it runs with the app user's own rights, whoever
-- applied the migration. A later change of behaviour gets a new name
-- (stockd_hold_v2), so that a release still running calls what it expects.
-- CREATE OR REPLACE: safe to re-run. An older release never calls it.

-- The procedure keeps the sql_mode it was created with: the app's own.
SET SESSION sql_mode = 'STRICT_ALL_TABLES,NO_ENGINE_SUBSTITUTION';

DELIMITER //
CREATE OR REPLACE PROCEDURE stockd_hold_v1(
  IN p_cart CHAR(32) CHARACTER SET ascii COLLATE ascii_bin,
  IN p_product BIGINT,
  IN p_quantity BIGINT,
  IN p_until_ms BIGINT,
  IN p_now_ms BIGINT,
  IN p_line_mode VARCHAR(6) CHARACTER SET ascii,
  IN p_commit BOOLEAN
)
MODIFIES SQL DATA
SQL SECURITY INVOKER
BEGIN
  IF p_line_mode IS NOT NULL THEN
    INSERT INTO cart_items (cart_id, product_id, quantity, mode) VALUES (p_cart, p_product, p_quantity, p_line_mode)
      ON DUPLICATE KEY UPDATE quantity = quantity + VALUES(quantity), mode = VALUES(mode);
  END IF;
  UPDATE products SET reserved_stock = reserved_stock + p_quantity, next_expiry_ms = LEAST(next_expiry_ms, p_until_ms)
    WHERE id = p_product AND next_expiry_ms > p_now_ms
      AND (@stk_available := stock - reserved_stock - p_quantity) >= 0;
  IF ROW_COUNT() = 1 THEN
    INSERT INTO stock_holds (cart_id, product_id, quantity, expires_at_ms) VALUES (p_cart, p_product, p_quantity, p_until_ms)
      ON DUPLICATE KEY UPDATE quantity = quantity + VALUES(quantity), expires_at_ms = VALUES(expires_at_ms)
      RETURNING quantity, @stk_available;
    IF p_commit THEN
      COMMIT;
    END IF;
  ELSE
    SELECT NULL, NULL;
  END IF;
END //
DELIMITER ;
