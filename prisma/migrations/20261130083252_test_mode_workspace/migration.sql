-- CreateEnum
CREATE TYPE "TestClockStatus" AS ENUM ('READY', 'ADVANCING');

-- AlterTable
ALTER TABLE "Workspace" ADD COLUMN     "liveWorkspaceId" UUID,
ADD COLUMN     "testClockStatus" "TestClockStatus",
ADD COLUMN     "testClockTime" TIMESTAMP(3);

-- CreateIndex
CREATE UNIQUE INDEX "Workspace_liveWorkspaceId_key" ON "Workspace"("liveWorkspaceId");

-- AddForeignKey
ALTER TABLE "Workspace" ADD CONSTRAINT "Workspace_liveWorkspaceId_fkey" FOREIGN KEY ("liveWorkspaceId") REFERENCES "Workspace"("id") ON DELETE CASCADE ON UPDATE CASCADE;
