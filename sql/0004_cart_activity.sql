-- stockd-migration: expand
-- Monitoring, expand step: when a cart line last changed and in which mode,
-- and when a cart was counted as abandoned. All INSTANT (the ON UPDATE
-- timestamp fills itself in, also for the legacy code's writes) plus one
-- online index build: nothing is copied, nothing waits.

ALTER TABLE cart_items
  ADD COLUMN IF NOT EXISTS updated_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3),
  ADD COLUMN IF NOT EXISTS mode ENUM('legacy','stock') NULL,
  ALGORITHM=INSTANT;

ALTER TABLE carts ADD COLUMN IF NOT EXISTS abandoned_at DATETIME(3) NULL, ALGORITHM=INSTANT;

ALTER TABLE carts ADD INDEX IF NOT EXISTS carts_open_idle (status, abandoned_at, created_at), ALGORITHM=INPLACE, LOCK=NONE;
