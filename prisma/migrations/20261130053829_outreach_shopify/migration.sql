-- CreateEnum
CREATE TYPE "SequenceType" AS ENUM ('INTERVAL', 'DATE');

-- CreateEnum
CREATE TYPE "ShareType" AS ENUM ('PRIVATE', 'READ_ONLY', 'SHARED');

-- CreateEnum
CREATE TYPE "ScheduleIntervalType" AS ENUM ('CALENDAR', 'SCHEDULE');

-- AlterTable
ALTER TABLE "Sequence" ADD COLUMN     "dateFieldPath" TEXT,
ADD COLUMN     "lockedAt" TIMESTAMP(3),
ADD COLUMN     "salesMotion" TEXT,
ADD COLUMN     "scheduleIntervalType" "ScheduleIntervalType" NOT NULL DEFAULT 'CALENDAR',
ADD COLUMN     "secondaryReplyAction" "ReplyAction" NOT NULL DEFAULT 'CONTINUE',
ADD COLUMN     "secondaryReplyPauseDuration" INTEGER,
ADD COLUMN     "sequenceType" "SequenceType" NOT NULL DEFAULT 'INTERVAL',
ADD COLUMN     "shareType" "ShareType" NOT NULL DEFAULT 'SHARED',
ADD COLUMN     "throttlePausedAt" TIMESTAMP(3);

-- AlterTable
ALTER TABLE "Step" ADD COLUMN     "dateOffsetMinutes" INTEGER;

-- AlterTable
ALTER TABLE "Workspace" ADD COLUMN     "shopifyAccessToken" TEXT,
ADD COLUMN     "shopifyShopDomain" TEXT;
