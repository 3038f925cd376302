-- A change-log key at least that of every change committed so far: the first
-- transaction id not yet completed, read from a snapshot taken when the function
-- is called. A VOLATILE function's expressions take a fresh snapshot (READ
-- COMMITTED), unlike the statement around it, whose snapshot predates the row
-- locks it then waits for (src/engine/lifecycle.ts, endRunsWhere).
CREATE OR REPLACE FUNCTION stepwise_change_key_bound() RETURNS bigint LANGUAGE plpgsql VOLATILE AS $$
BEGIN
  RETURN pg_snapshot_xmax(pg_current_snapshot())::text::bigint;
END $$;
