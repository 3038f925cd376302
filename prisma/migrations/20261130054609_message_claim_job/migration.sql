-- AlterTable
ALTER TABLE "Message" ADD COLUMN     "claimJobId" UUID;
