-- DropIndex
DROP INDEX "Event_workspaceId_idempotencyKey_key";

-- DropIndex
DROP INDEX "Event_workspaceId_name_occurredAt_idx";

-- CreateIndex
CREATE UNIQUE INDEX "Event_workspaceId_idempotencyKey_key" ON "Event"("workspaceId", "idempotencyKey") WHERE ("idempotencyKey" IS NOT NULL);
