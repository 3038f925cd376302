-- DropIndex
DROP INDEX "EnrollmentChange_workspaceId_xid_id_idx";

-- AlterTable
ALTER TABLE "EnrollmentChange" DROP CONSTRAINT "EnrollmentChange_pkey",
ADD CONSTRAINT "EnrollmentChange_pkey" PRIMARY KEY ("workspaceId", "xid", "id");
