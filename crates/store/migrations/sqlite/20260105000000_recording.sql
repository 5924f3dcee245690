-- Call recording per user: the relay records both directions of every relayed call of the user.
ALTER TABLE users ADD COLUMN record_calls INTEGER NOT NULL DEFAULT 0 CHECK (record_calls IN (0, 1));
