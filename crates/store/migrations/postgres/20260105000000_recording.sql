-- Call recording per user: the relay records both directions of every relayed call of the user.
ALTER TABLE users ADD COLUMN record_calls BOOLEAN NOT NULL DEFAULT FALSE;
