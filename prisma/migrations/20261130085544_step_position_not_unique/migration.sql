-- DropIndex
DROP INDEX "Step_sequenceId_position_key";

-- CreateIndex
CREATE INDEX "Step_sequenceId_position_idx" ON "Step"("sequenceId", "position");
