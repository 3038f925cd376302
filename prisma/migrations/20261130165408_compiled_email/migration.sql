-- CreateTable
CREATE TABLE "CompiledEmail" (
    "stepId" UUID NOT NULL,
    "key" TEXT NOT NULL,
    "template" JSONB NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "CompiledEmail_pkey" PRIMARY KEY ("stepId","key")
);

-- AddForeignKey
ALTER TABLE "CompiledEmail" ADD CONSTRAINT "CompiledEmail_stepId_fkey" FOREIGN KEY ("stepId") REFERENCES "Step"("id") ON DELETE CASCADE ON UPDATE CASCADE;
