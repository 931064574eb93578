-- stockd-migration: expand
-- The hold procedures of 0007 and 0008 answer after their COMMIT, not
-- before it. They answered with the hold upsert's RETURNING, which the
-- server sends as the INSERT ends, before the COMMIT; the COMMIT's own "OK"
-- followed after the redo log's flush. So the app's worker woke twice for
-- one CALL: once for the row, once for the OK. Now the row and the OK
-- leave together after the COMMIT, one wake-up; and the product's row lock
-- is no longer held while the server writes the row to the socket.
--
-- The hold's new size, which RETURNING read from the row, is caught in
-- @stk_held by the upsert itself: the inserted quantity when the hold is
-- new, the sum when it existed. Same arguments, same answers, same writes:
-- the names stay, and a release that calls the procedures of 0007 and 0008
-- gets from these what it got from them (CREATE OR REPLACE: an older
-- release keeps working beside this one). As in 0008, the reserve repeats
-- the hold's fast path instead of calling stockd_hold_v1: a nested CALL
-- would answer its own two columns, not the reserve's three, and costs a
-- procedure's set-up on every reserve.

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
    INSERT INTO stock_holds (cart_id, product_id, quantity, expires_at_ms)
      VALUES (p_cart, p_product, @stk_held := p_quantity, p_until_ms)
      ON DUPLICATE KEY UPDATE quantity = (@stk_held := quantity + VALUES(quantity)), expires_at_ms = VALUES(expires_at_ms);
    IF p_commit THEN
      COMMIT;
    END IF;
    SELECT @stk_held, @stk_available;
  ELSE
    SELECT NULL, NULL;
  END IF;
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
    SELECT 0, NULL, NULL;
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
      SELECT 2, @stk_held, @stk_available;
    ELSE
      SELECT 1, NULL, NULL;
    END IF;
  END IF;
END //
DELIMITER ;
