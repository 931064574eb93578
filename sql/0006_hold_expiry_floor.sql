-- stockd-migration: expand
-- Holds, expand step: a lower bound of the earliest expiry among a
-- product's holds, kept under the product's row lock. The hold paths look
-- for expired holds only once the clock has passed it, instead of summing
-- them with a subquery on every request (docs/reliability.md, "Expiry").
-- INSTANT; existing rows read 0, "not known yet": the first hold operation
-- on each product looks once and stores the real bound. The old release
-- never reads the column.

ALTER TABLE products ADD COLUMN IF NOT EXISTS next_expiry_ms BIGINT NOT NULL DEFAULT 0, ALGORITHM=INSTANT;
