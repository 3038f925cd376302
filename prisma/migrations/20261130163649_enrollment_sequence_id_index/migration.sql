-- CreateIndex
CREATE INDEX "Enrollment_sequenceId_id_idx" ON "Enrollment"("sequenceId", "id");
