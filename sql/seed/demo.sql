-- A handful of demo products for `make run`. Receipts keep the audit balanced.
INSERT INTO products (sku, name, price_cents, stock) VALUES
  ('TSHIRT-S', 'T-shirt S', 1999, 10),
  ('TSHIRT-M', 'T-shirt M', 1999, 10),
  ('TSHIRT-L', 'T-shirt L', 1999, 5),
  ('MUG', 'Coffee mug', 1250, 25),
  ('POSTER', 'Launch poster', 800, 3),
  ('HOODIE', 'Hoodie', 4999, 1);
INSERT INTO stock_receipts (product_id, delta, reason)
SELECT id, stock, 'created' FROM products
WHERE id NOT IN (SELECT product_id FROM stock_receipts);
