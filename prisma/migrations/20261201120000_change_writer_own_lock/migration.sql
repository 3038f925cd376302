-- A writer of the change log also holds a lock of its own, keyed by its
-- transaction id, from its log write to its end (taken before the shared writer
-- lock, so a writer readers see holding that one holds its own). A reader that
-- finds committed changes held behind a writer still in flight waits on that
-- writer's lock in Postgres (src/realtime/change-feed.ts, chase) and reads again
-- the moment it ends, rather than waiting for its NOTIFY or polling. Only
-- readers ever wait on it, in share mode; no writer waits on another's.
CREATE OR REPLACE FUNCTION stepwise_change_key() RETURNS bigint LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  me bigint := pg_current_xact_id()::text::bigint;
BEGIN
  PERFORM pg_advisory_xact_lock(1400139896, ((me % 4294967296) - 2147483648)::int);
  PERFORM pg_advisory_xact_lock_shared(1400139895, 1);
  RETURN GREATEST(me, pg_snapshot_xmax(pg_current_snapshot())::text::bigint);
END $$;
