-- AlterTable
ALTER TABLE "Enrollment" ADD COLUMN     "version" INTEGER NOT NULL DEFAULT 1;

-- AlterTable
ALTER TABLE "Sequence" ADD COLUMN     "draftOfId" UUID,
ADD COLUMN     "version" INTEGER NOT NULL DEFAULT 1;

-- AlterTable
ALTER TABLE "Step" ADD COLUMN     "originId" UUID,
ADD COLUMN     "version" INTEGER NOT NULL DEFAULT 1,
ADD COLUMN     "versionPosition" INTEGER;

-- CreateTable
CREATE TABLE "SequenceVersion" (
    "id" UUID NOT NULL,
    "sequenceId" UUID NOT NULL,
    "number" INTEGER NOT NULL,
    "publishedAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "note" TEXT,
    "stepCount" INTEGER NOT NULL,
    "settings" JSONB NOT NULL,

    CONSTRAINT "SequenceVersion_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "SequenceVersion_sequenceId_number_key" ON "SequenceVersion"("sequenceId", "number");

-- CreateIndex
CREATE UNIQUE INDEX "Sequence_draftOfId_key" ON "Sequence"("draftOfId");

-- CreateIndex
CREATE INDEX "Step_sequenceId_version_idx" ON "Step"("sequenceId", "version");

-- AddForeignKey
ALTER TABLE "Sequence" ADD CONSTRAINT "Sequence_draftOfId_fkey" FOREIGN KEY ("draftOfId") REFERENCES "Sequence"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "SequenceVersion" ADD CONSTRAINT "SequenceVersion_sequenceId_fkey" FOREIGN KEY ("sequenceId") REFERENCES "Sequence"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- Backfill (issue 14): every existing step is version 1 at its live position, and
-- every sequence that has been enabled gets its version 1 as it stands, with the
-- run-affecting settings snapshotted (the keys of VERSION_SETTINGS in
-- src/domain/run-machine/publish.ts). Runs default to version 1.
UPDATE "Step" SET "versionPosition" = "position";

INSERT INTO "SequenceVersion" ("id", "sequenceId", "number", "publishedAt", "stepCount", "settings")
SELECT gen_random_uuid(), s."id", 1, COALESCE(s."enabledAt", s."updatedAt"),
  (SELECT count(*)::int FROM "Step" st WHERE st."sequenceId" = s."id" AND st."position" IS NOT NULL),
  jsonb_build_object(
    'stopConditionType', s."stopConditionType", 'stopConditionValue', s."stopConditionValue",
    'primaryReplyAction', s."primaryReplyAction", 'primaryReplyPauseDuration', s."primaryReplyPauseDuration",
    'secondaryReplyAction', s."secondaryReplyAction", 'secondaryReplyPauseDuration', s."secondaryReplyPauseDuration",
    'scheduleIntervalType', s."scheduleIntervalType", 'transactional', s."transactional", 'sendWindow', s."sendWindow")
FROM "Sequence" s WHERE s."status" <> 'DRAFT';
