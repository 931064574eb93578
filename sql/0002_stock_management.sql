-- stockd-migration: expand
-- Stock management, expand step: safe on a live database and invisible to the
-- legacy code. Every statement is INSTANT or creates a new table: no table is
-- copied and no legacy query waits on more than a metadata lock. Every
-- statement may run again (IF NOT EXISTS, a backfill that skips what it did):
-- a run that failed halfway is finished by running the same command again.

-- The backfill below reads products without locking them (a single
-- statement's snapshot), so legacy writes never wait on it.
SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED;

-- Inline single-column CHECK keeps ADD COLUMN instant (measured on 10.11; IF NOT
-- EXISTS keeps it INSTANT and makes a re-run a no-op).
ALTER TABLE products
  ADD COLUMN IF NOT EXISTS reserved_stock BIGINT NOT NULL DEFAULT 0 CHECK (reserved_stock >= 0),
  ALGORITHM=INSTANT;

-- One row per (cart, product): a repeated reserve adjusts the same hold, and a
-- shopper's own hold is found by cart, never counted against them.
CREATE TABLE IF NOT EXISTS stock_holds (
  cart_id       CHAR(32) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  product_id    BIGINT NOT NULL,
  quantity      INT NOT NULL CHECK (quantity > 0),
  -- epoch milliseconds (UTC) from the app's clock: no time-zone conversions
  expires_at_ms BIGINT NOT NULL,
  PRIMARY KEY (cart_id, product_id),
  -- reclaiming a product's expired holds under its row lock scans only these
  KEY stock_holds_product_expiry (product_id, expires_at_ms),
  -- the sweep finds expired holds without scanning live ones
  KEY stock_holds_expiry (expires_at_ms)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- What came into stock, so that the audit can check
-- sum(received) = stock + sum(sold) for every product.
CREATE TABLE IF NOT EXISTS stock_receipts (
  id         BIGINT NOT NULL AUTO_INCREMENT,
  product_id BIGINT NOT NULL,
  delta      BIGINT NOT NULL,
  reason     ENUM('opening','created','delta','set') NOT NULL,
  created_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  PRIMARY KEY (id),
  KEY stock_receipts_product (product_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- The legacy code never recorded receipts: open the ledger with what is on
-- hand plus what was sold, so the books balance from here on. Only for
-- products whose ledger is not open yet: a re-run after a failure further
-- down opens it for products added since, and never twice for any.
INSERT INTO stock_receipts (product_id, delta, reason)
SELECT p.id, p.stock + COALESCE((SELECT SUM(oi.quantity) FROM order_items oi WHERE oi.product_id = p.id), 0), 'opening'
FROM products p
WHERE NOT EXISTS (SELECT 1 FROM stock_receipts r WHERE r.product_id = p.id);

CREATE TABLE IF NOT EXISTS idempotency_keys (
  idem_key      VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  method        VARCHAR(8) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  path          VARCHAR(128) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  request_body  MEDIUMBLOB NOT NULL,
  -- NULL while the first request is still running
  status        SMALLINT NULL,
  response_body MEDIUMBLOB NULL,
  set_cookie    VARCHAR(255) NULL,
  created_ms    BIGINT NOT NULL,
  PRIMARY KEY (idem_key, method, path),
  KEY idempotency_keys_created (created_ms)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
