-- DropIndex
DROP INDEX "Enrollment_entryEvent_idx";

-- DropIndex
DROP INDEX "Enrollment_sequenceId_enrollmentKey_idx";

-- DropIndex
DROP INDEX "Enrollment_workspaceId_idempotencyKey_idx";

-- DropIndex
DROP INDEX "EnrollmentChange_workspaceId_seq_key";

-- CreateIndex
CREATE INDEX "Enrollment_sequenceId_enrollmentKey_idx" ON "Enrollment"("sequenceId", "enrollmentKey") WHERE ("enrollmentKey" IS NOT NULL);

-- CreateIndex
CREATE INDEX "Enrollment_workspaceId_idempotencyKey_idx" ON "Enrollment"("workspaceId", "idempotencyKey") WHERE ("idempotencyKey" IS NOT NULL);

-- CreateIndex
CREATE INDEX "Enrollment_entryEvent_idx" ON "Enrollment" USING GIN ("entryEvent" jsonb_path_ops) WHERE (status = ANY (ARRAY['QUEUED'::"EnrollmentStatus", 'ACTIVE'::"EnrollmentStatus", 'PAUSED'::"EnrollmentStatus"]));

-- CreateIndex
CREATE UNIQUE INDEX "EnrollmentChange_workspaceId_seq_key" ON "EnrollmentChange"("workspaceId", "seq") WHERE (seq IS NOT NULL);
