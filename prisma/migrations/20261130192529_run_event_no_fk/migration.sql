-- DropForeignKey
ALTER TABLE "Enrollment" DROP CONSTRAINT "Enrollment_entryEventId_fkey";

-- DropForeignKey
ALTER TABLE "Enrollment" DROP CONSTRAINT "Enrollment_workspaceId_fkey";

-- DropForeignKey
ALTER TABLE "Event" DROP CONSTRAINT "Event_workspaceId_fkey";

-- The entry event's ON DELETE SET NULL, kept by a statement-level trigger (one
-- UPDATE per deleting statement, as Enrollment_changes_delete does for the change
-- log), while starting a run no longer checks its workspace and event rows (two
-- of the four per-row foreign-key checks that were about half of a run insert's
-- time). A run's entry event is its own subscriber's (src/engine/triggers.ts), so
-- the runs are found by the (subscriberId, status) index: the cascade scanned
-- every run per deleted event, there being no index on entryEventId. An event
-- gets runs only in the transaction that inserts it (src/services/events.ts), so
-- no other can delete it meanwhile. A run's workspace is its sequence's, whose
-- key stays: deleting a workspace deletes its runs through its sequences and
-- subscribers, and its events through their subscribers. Prisma does not model
-- triggers: the drift check ignores them.
CREATE FUNCTION "stepwise_forget_entry_events"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE "Enrollment" e SET "entryEventId" = NULL
  FROM old_rows o WHERE e."subscriberId" = o."subscriberId" AND e."entryEventId" = o.id;
  RETURN NULL;
END $$;

CREATE TRIGGER "Event_entry_event_delete" AFTER DELETE ON "Event" REFERENCING OLD TABLE AS old_rows
  FOR EACH STATEMENT EXECUTE FUNCTION "stepwise_forget_entry_events"();
