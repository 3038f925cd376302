-- DropIndex
DROP INDEX "Enrollment_sequenceId_status_idx";

-- CreateIndex
CREATE INDEX "Enrollment_sequenceId_status_idx" ON "Enrollment"("sequenceId", "status") WHERE (status = ANY (ARRAY['QUEUED'::"EnrollmentStatus", 'ACTIVE'::"EnrollmentStatus", 'PAUSED'::"EnrollmentStatus"]));
