-- DropIndex
DROP INDEX "Subscriber_workspaceId_externalId_key";

-- CreateIndex
CREATE UNIQUE INDEX "Subscriber_workspaceId_externalId_key" ON "Subscriber"("workspaceId", "externalId") WHERE ("externalId" IS NOT NULL);
