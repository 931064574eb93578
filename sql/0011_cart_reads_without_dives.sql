-- stockd-migration: expand
-- stockd_reserve_v2 reads the cart's lines and holds with
-- eq_range_index_dive_limit at 1 for those two statements only. Each finds
-- its rows by cart_id = ?, an equality range on its table's primary key,
-- and by default the range optimiser sizes such a range by diving into the
-- B-tree on every call, for a plan that cannot change: no other index
-- starts with cart_id. At 1 it reads the index statistics instead. Under
-- the bench's spread load the dives were about 3% of MariaDB's CPU a
-- reserve (docs/benchmarks.md); the add's and the cart view's read of the
-- same rows does the same (app/domain/locking.c, CART_ROWS). Set per
-- statement, not for the session: a write that finds its rows by such a
-- prefix keeps the dive's exact count, so that a stale statistic cannot
-- make it scan and lock other carts' rows.
--
-- Same arguments, answers and writes as 0010's, so the name stays (CREATE
-- OR REPLACE, as 0009 did): a release that calls stockd_reserve_v2, or
-- stockd_reserve_v1 through its adapter, gets what it got before. The body
-- is 0010's whole, two SET STATEMENT prefixes added: MariaDB replaces a
-- procedure only as a whole.

SET SESSION sql_mode = 'STRICT_ALL_TABLES,NO_ENGINE_SUBSTITUTION';

DELIMITER //
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
  SET STATEMENT eq_range_index_dive_limit = 1 FOR
  SELECT COUNT(*), COALESCE(SUM(IF(product_id = p_product, quantity, 0)), 0) INTO v_lines, v_line
    FROM cart_items WHERE cart_id = p_cart;
  SET STATEMENT eq_range_index_dive_limit = 1 FOR
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
DELIMITER ;
