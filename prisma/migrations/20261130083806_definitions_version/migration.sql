-- AlterTable
ALTER TABLE "Workspace" ADD COLUMN     "definitionsVersion" BIGINT NOT NULL DEFAULT 0;

-- The engine caches each workspace's sequences, steps and segments per process
-- (src/engine/definitions.ts) and checks this version, one indexed read, instead
-- of loading them for every event. Every writing statement on those tables bumps
-- the version of the workspaces it touched, in the writer's transaction, so a
-- process sees the change exactly when it commits, whoever wrote it. Values come
-- from one sequence and are never reused: a version a rolled-back writer saw is
-- never committed by anyone, so nothing cached under it is ever taken for another.
CREATE SEQUENCE "definitions_version_seq";

CREATE FUNCTION stepwise_bump_definitions(changed jsonb[]) RETURNS void LANGUAGE sql AS $$
  UPDATE "Workspace" SET "definitionsVersion" = nextval('"definitions_version_seq"')
  WHERE id IN (
    SELECT COALESCE((j->>'workspaceId')::uuid, s."workspaceId")
    FROM unnest(changed) AS j LEFT JOIN "Sequence" s ON s.id = (j->>'sequenceId')::uuid
  )
$$;

-- Steps name their workspace through their sequence. A sequence's lastUsedAt
-- (stamped by run starts) and updatedAt alone are not definitions.
CREATE FUNCTION stepwise_definitions_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    PERFORM stepwise_bump_definitions(ARRAY(SELECT to_jsonb(n) FROM new_rows n));
  ELSIF TG_OP = 'DELETE' THEN
    PERFORM stepwise_bump_definitions(ARRAY(SELECT to_jsonb(o) FROM old_rows o));
  ELSE
    PERFORM stepwise_bump_definitions(ARRAY(
      SELECT to_jsonb(n) FROM new_rows n JOIN old_rows o ON o.id = n.id
      WHERE to_jsonb(n) - '{lastUsedAt,updatedAt}'::text[] IS DISTINCT FROM to_jsonb(o) - '{lastUsedAt,updatedAt}'::text[]));
  END IF;
  RETURN NULL;
END $$;

CREATE TRIGGER "Sequence_definitions_insert" AFTER INSERT ON "Sequence" REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION stepwise_definitions_changed();
CREATE TRIGGER "Sequence_definitions_update" AFTER UPDATE ON "Sequence" REFERENCING NEW TABLE AS new_rows OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION stepwise_definitions_changed();
CREATE TRIGGER "Sequence_definitions_delete" AFTER DELETE ON "Sequence" REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION stepwise_definitions_changed();
CREATE TRIGGER "Step_definitions_insert" AFTER INSERT ON "Step" REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION stepwise_definitions_changed();
CREATE TRIGGER "Step_definitions_update" AFTER UPDATE ON "Step" REFERENCING NEW TABLE AS new_rows OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION stepwise_definitions_changed();
CREATE TRIGGER "Step_definitions_delete" AFTER DELETE ON "Step" REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION stepwise_definitions_changed();
CREATE TRIGGER "Segment_definitions_insert" AFTER INSERT ON "Segment" REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION stepwise_definitions_changed();
CREATE TRIGGER "Segment_definitions_update" AFTER UPDATE ON "Segment" REFERENCING NEW TABLE AS new_rows OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION stepwise_definitions_changed();
CREATE TRIGGER "Segment_definitions_delete" AFTER DELETE ON "Segment" REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION stepwise_definitions_changed();
