-- Contract step, applied after 0002: let the database itself refuse
-- reserved_stock > stock (invariant 1), even from code that is wrong.
-- A CHECK across two columns cannot be added INSTANT or INPLACE on MariaDB
-- 10.11: this ALTER copies the products table and blocks writes to it while
-- it runs (0.43 s for 100k products here, see docs/migrations.md). The
-- products table is small next to carts and orders, so we pay it once.
ALTER TABLE products
  ADD CONSTRAINT products_reserved_le_stock CHECK (reserved_stock <= stock),
  ALGORITHM=COPY;
