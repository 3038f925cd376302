-- AlterTable
ALTER TABLE "Message" ADD COLUMN     "headers" JSONB;
