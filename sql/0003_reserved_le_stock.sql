-- stockd-migration: contract
-- Contract step, applied after 0002, and optional: the app keeps invariant 1
-- itself (every hold checks `available` under the product's row lock) and
-- does not need this step; it only lets the database itself refuse
-- reserved_stock > stock, even from code that is wrong. `--expand-only`
-- skips it; a later run applies it, in a quiet minute.
-- A CHECK across two columns cannot be added INSTANT or INPLACE on MariaDB
-- 10.11: this ALTER copies the products table and blocks writes to it while
-- it runs (docs/migrations.md has the figure per 100k products). A re-run
-- once the constraint exists is a no-op (IF NOT EXISTS: nothing is copied).
ALTER TABLE products
  ADD CONSTRAINT IF NOT EXISTS products_reserved_le_stock CHECK (reserved_stock <= stock),
  ALGORITHM=COPY;
