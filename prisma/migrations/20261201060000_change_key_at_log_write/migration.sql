-- The change log's key is taken when a transaction writes the log, not at its
-- first write (src/realtime/change-feed.ts, "Order and horizon"). The function
-- first takes a shared transaction-level advisory lock that marks the
-- transaction as a writer of the log until it ends (readers find such writers in
-- pg_locks and wait for them only), then reads the key from a snapshot taken
-- after that lock: at least the writer's own id, and at least the first id not
-- yet completed. A VOLATILE function's expressions take a fresh snapshot (READ
-- COMMITTED). Nothing ever takes this lock exclusively: writers never wait on it.
CREATE FUNCTION stepwise_change_key() RETURNS bigint LANGUAGE plpgsql VOLATILE AS $$
BEGIN
  PERFORM pg_advisory_xact_lock_shared(1400139895, 1);
  RETURN GREATEST(pg_current_xact_id()::text::bigint, pg_snapshot_xmax(pg_current_snapshot())::text::bigint);
END $$;

ALTER TABLE "EnrollmentChange" ALTER COLUMN "xid" SET DEFAULT stepwise_change_key();
