-- stockd-migration: expand
-- The shop's schema before stock management: products, carts, cart lines and
-- orders. Stock is only touched at checkout. Kept exactly as the legacy code
-- expects it, so that release keeps working while the next migrations land.
-- An existing shop database that already has these tables is adopted with
-- `stockd migrate DIR --baseline` (compares them with this file, then
-- records version 1 without running it); IF NOT EXISTS lets a run that
-- stopped halfway on a new database be finished by running it again.

CREATE TABLE IF NOT EXISTS products (
  id          BIGINT NOT NULL AUTO_INCREMENT,
  -- byte-for-byte, case-sensitive and trailing-space-sensitive SKUs
  sku         VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin NOT NULL,
  name        VARCHAR(200) CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin NOT NULL,
  price_cents BIGINT NOT NULL CHECK (price_cents >= 0),
  stock       BIGINT NOT NULL CHECK (stock >= 0),
  created_at  DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  PRIMARY KEY (id),
  UNIQUE KEY products_sku (sku)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS carts (
  id         CHAR(32) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  status     ENUM('open','checked_out') NOT NULL DEFAULT 'open',
  created_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  updated_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  PRIMARY KEY (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS cart_items (
  cart_id    CHAR(32) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  product_id BIGINT NOT NULL,
  quantity   INT NOT NULL CHECK (quantity > 0 AND quantity <= 1000),
  PRIMARY KEY (cart_id, product_id),
  KEY cart_items_product (product_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS orders (
  id          BIGINT NOT NULL AUTO_INCREMENT,
  cart_id     CHAR(32) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  total_cents BIGINT NOT NULL,
  created_at  DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  PRIMARY KEY (id),
  -- one order per cart: a repeated checkout finds this row instead of selling twice
  UNIQUE KEY orders_cart (cart_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS order_items (
  order_id    BIGINT NOT NULL,
  product_id  BIGINT NOT NULL,
  quantity    INT NOT NULL CHECK (quantity > 0),
  price_cents BIGINT NOT NULL,
  PRIMARY KEY (order_id, product_id),
  KEY order_items_product (product_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
