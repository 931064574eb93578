-- stockd-migration: expand
-- Idempotency keys, expand step: the claim's owner. A random token written
-- by whoever claims (or takes over) a key; storing the answer and releasing
-- the claim name it, so that a request that lost its claim to a retry can
-- neither store its answer nor delete the retry's claim (docs/reliability.md,
-- "Idempotency keys"). INSTANT: nothing is copied; old rows read 0, a token
-- no claimant ever draws, and the old release never reads the column.

ALTER TABLE idempotency_keys ADD COLUMN IF NOT EXISTS claim BIGINT NOT NULL DEFAULT 0, ALGORITHM=INSTANT;
