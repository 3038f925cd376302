-- AlterTable
ALTER TABLE "Workspace" ADD COLUMN     "testClockLeaseUntil" TIMESTAMP(3),
ADD COLUMN     "testClockRunner" UUID,
ADD COLUMN     "testClockTarget" TIMESTAMP(3);

-- CreateTable
CREATE TABLE "TestClockJob" (
    "id" UUID NOT NULL,
    "workspaceId" UUID NOT NULL,
    "name" TEXT NOT NULL,
    "data" JSONB NOT NULL,
    "dueAt" TIMESTAMP(3) NOT NULL,
    "attempts" INTEGER NOT NULL DEFAULT 0,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "TestClockJob_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "TestClockJob_workspaceId_dueAt_id_idx" ON "TestClockJob"("workspaceId", "dueAt", "id");

-- AddForeignKey
ALTER TABLE "TestClockJob" ADD CONSTRAINT "TestClockJob_workspaceId_fkey" FOREIGN KEY ("workspaceId") REFERENCES "Workspace"("id") ON DELETE CASCADE ON UPDATE CASCADE;
