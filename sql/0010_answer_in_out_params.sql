-- stockd-migration: expand
-- The hold procedures answer in OUT parameters instead of a SELECT:
-- stockd_hold_v2 and stockd_reserve_v2 are 0009's stockd_hold_v1 and
-- stockd_reserve_v1 with their closing SELECT of the answer replaced by OUT
-- parameters (the hold's new size and the product's available units, and
-- for the reserve its outcome first). The server sends OUT parameters as a
-- result set of their own once the procedure returns, without running a
-- statement for them: the closing SELECT went through the whole SELECT
-- machinery (its preparation and optimisation) on every call, for a row of
-- session variables. One connection, BEGIN/CALL/ROLLBACK 3,000 times, the
-- reserve cost that connection's thread 152 to 180 us a loop against 168 to
-- 195 (docs/benchmarks.md). The answer still leaves after the COMMIT, with
-- the CALL's OK, as 0009 made it.
--
-- New names, not CREATE OR REPLACE: the arguments change, and a release
-- before this one, still running beside it in a rolling upgrade or after a
-- rollback, calls the _v1 procedures with their arguments. The _v1
-- procedures become adapters (below): each calls its _v2 and answers its
-- OUT parameters with the SELECT it always answered, so the hold's logic
-- lives in one place, at the price of a nested CALL for the older release
-- only, until a contract step removes them once no such release runs.
-- OUT parameters start NULL, so "not taken" is o_held NULL for the hold and
-- o_status 0 (the cart) or 1 (the product) for the reserve, as the _v1
-- answers' NULLs said. The reserve still repeats the hold's fast path
-- rather than calling stockd_hold_v2 (0009): a nested CALL costs a
-- procedure's set-up on every reserve.

SET SESSION sql_mode = 'STRICT_ALL_TABLES,NO_ENGINE_SUBSTITUTION';

DELIMITER //
CREATE OR REPLACE PROCEDURE stockd_hold_v2(
  IN p_cart CHAR(32) CHARACTER SET ascii COLLATE ascii_bin,
  IN p_product BIGINT,
  IN p_quantity BIGINT,
  IN p_until_ms BIGINT,
  IN p_now_ms BIGINT,
  IN p_line_mode VARCHAR(6) CHARACTER SET ascii,
  IN p_commit BOOLEAN,
  OUT o_held BIGINT,
  OUT o_available BIGINT
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
    INSERT INTO stock_holds (cart_id, product_id, quantity, expires_at_ms)
      VALUES (p_cart, p_product, @stk_held := p_quantity, p_until_ms)
      ON DUPLICATE KEY UPDATE quantity = (@stk_held := quantity + VALUES(quantity)), expires_at_ms = VALUES(expires_at_ms);
    IF p_commit THEN
      COMMIT;
    END IF;
    SET o_held = @stk_held, o_available = @stk_available;
  END IF;
END //

CREATE OR REPLACE PROCEDURE stockd_reserve_v2(
  IN p_cart CHAR(32) CHARACTER SET ascii COLLATE ascii_bin,
  IN p_product BIGINT,
  IN p_quantity BIGINT,
  IN p_until_ms BIGINT,
  IN p_now_ms BIGINT,
  IN p_max_hold BIGINT,
  IN p_max_lines BIGINT,
  IN p_line_max BIGINT,
  IN p_commit BOOLEAN,
  OUT o_status INT,
  OUT o_held BIGINT,
  OUT o_available BIGINT
)
MODIFIES SQL DATA
SQL SECURITY INVOKER
BEGIN
  DECLARE v_status VARCHAR(16) DEFAULT NULL;
  DECLARE v_lines, v_line, v_holds, v_held BIGINT DEFAULT 0;
  DECLARE CONTINUE HANDLER FOR NOT FOUND SET v_status = NULL;
  SELECT status INTO v_status FROM carts WHERE id = p_cart FOR UPDATE;
  SELECT COUNT(*), COALESCE(SUM(IF(product_id = p_product, quantity, 0)), 0) INTO v_lines, v_line
    FROM cart_items WHERE cart_id = p_cart;
  SELECT COALESCE(SUM(expires_at_ms > p_now_ms), 0),
         COALESCE(SUM(IF(product_id = p_product AND expires_at_ms > p_now_ms, quantity, 0)), 0)
    INTO v_holds, v_held
    FROM stock_holds WHERE cart_id = p_cart;
  IF v_status IS NULL OR v_status <> 'open' OR v_line > p_line_max OR v_held + p_quantity > p_max_hold
     OR (v_line = 0 AND v_held = 0 AND v_lines + v_holds >= p_max_lines) THEN
    SET o_status = 0;
  ELSE
    UPDATE products SET reserved_stock = reserved_stock + p_quantity, next_expiry_ms = LEAST(next_expiry_ms, p_until_ms)
      WHERE id = p_product AND next_expiry_ms > p_now_ms
        AND (@stk_available := stock - reserved_stock - p_quantity) >= 0;
    IF ROW_COUNT() = 1 THEN
      INSERT INTO stock_holds (cart_id, product_id, quantity, expires_at_ms)
        VALUES (p_cart, p_product, @stk_held := p_quantity, p_until_ms)
        ON DUPLICATE KEY UPDATE quantity = (@stk_held := quantity + VALUES(quantity)), expires_at_ms = VALUES(expires_at_ms);
      IF p_commit THEN
        COMMIT;
      END IF;
      SET o_status = 2, o_held = @stk_held, o_available = @stk_available;
    ELSE
      SET o_status = 1;
    END IF;
  END IF;
END //

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
  DECLARE v_held, v_available BIGINT;
  CALL stockd_hold_v2(p_cart, p_product, p_quantity, p_until_ms, p_now_ms, p_line_mode, p_commit,
                      v_held, v_available);
  SELECT v_held, v_available;
END //

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
  DECLARE v_status INT;
  DECLARE v_held, v_available BIGINT;
  CALL stockd_reserve_v2(p_cart, p_product, p_quantity, p_until_ms, p_now_ms, p_max_hold, p_max_lines, p_line_max,
                         p_commit, v_status, v_held, v_available);
  SELECT v_status, v_held, v_available;
END //
DELIMITER ;
