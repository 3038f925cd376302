-- The change log is ordered by the writing transaction's id instead of a
-- per-workspace seq taken under a lock (see src/engine/run-status.ts).
DROP INDEX "EnrollmentChange_enrollmentId_idx";

-- Rows logged before get xid 0 (they sort first, by id, which under the old
-- lock followed seq within a workspace); new rows get their transaction's id.
ALTER TABLE "EnrollmentChange" ADD COLUMN "xid" BIGINT NOT NULL DEFAULT 0,
ALTER COLUMN "seq" DROP NOT NULL;
ALTER TABLE "EnrollmentChange" ALTER COLUMN "xid" SET DEFAULT ((pg_current_xact_id())::text)::bigint;

CREATE INDEX "EnrollmentChange_workspaceId_xid_id_idx" ON "EnrollmentChange"("workspaceId", "xid", "id");

CREATE INDEX "EnrollmentChange_enrollmentId_xid_idx" ON "EnrollmentChange"("enrollmentId", "xid");
