-- A claimed batch's rendered emails are inserted in one statement; their bodies
-- are TOASTed, and lz4 compresses them 2–3× faster than the default pglz. Only
-- where the server was built with lz4 (its default_toast_compression offers it):
-- elsewhere the columns keep pglz. Existing rows are not rewritten.
DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_settings WHERE name = 'default_toast_compression' AND 'lz4' = ANY(enumvals)) THEN
    ALTER TABLE "Message" ALTER COLUMN html SET COMPRESSION lz4, ALTER COLUMN text SET COMPRESSION lz4;
  END IF;
END $$;
