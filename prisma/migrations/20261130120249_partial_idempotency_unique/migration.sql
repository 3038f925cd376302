-- DropIndex
DROP INDEX "Enrollment_sequenceId_idempotencyKey_key";

-- CreateIndex
CREATE UNIQUE INDEX "Enrollment_sequenceId_idempotencyKey_key" ON "Enrollment"("sequenceId", "idempotencyKey") WHERE ("idempotencyKey" IS NOT NULL);
