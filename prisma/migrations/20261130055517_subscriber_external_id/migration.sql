-- AlterTable
ALTER TABLE "Subscriber" ADD COLUMN     "externalId" TEXT;

-- CreateIndex
CREATE UNIQUE INDEX "Subscriber_workspaceId_externalId_key" ON "Subscriber"("workspaceId", "externalId");
