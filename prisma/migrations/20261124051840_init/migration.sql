-- CreateSchema
CREATE SCHEMA IF NOT EXISTS "public";

-- CreateEnum
CREATE TYPE "SubscriberStatus" AS ENUM ('ACTIVE', 'UNSUBSCRIBED', 'BOUNCED');

-- CreateEnum
CREATE TYPE "SequenceStatus" AS ENUM ('DRAFT', 'ACTIVE', 'PAUSED', 'ARCHIVED');

-- CreateEnum
CREATE TYPE "TriggerType" AS ENUM ('CONTACT_ADDED', 'TAG_ADDED', 'SEGMENT_ENTERED', 'EVENT_RECEIVED', 'INACTIVITY', 'FREQUENCY', 'MANUAL');

-- CreateEnum
CREATE TYPE "EnrollmentMode" AS ENUM ('UNLIMITED', 'ONE_TIME', 'MATCHING_FIELD');

-- CreateEnum
CREATE TYPE "StopConditionType" AS ENUM ('NONE', 'HAS_TAG', 'DOES_NOT_HAVE_TAG', 'EVENT_RECEIVED', 'ADDED_TO_LIST', 'REMOVED_FROM_LIST');

-- CreateEnum
CREATE TYPE "ReplyAction" AS ENUM ('FINISH', 'CONTINUE', 'PAUSE');

-- CreateEnum
CREATE TYPE "GenerationStatus" AS ENUM ('NONE', 'PENDING', 'RUNNING', 'DONE', 'FAILED');

-- CreateEnum
CREATE TYPE "StepType" AS ENUM ('EMAIL', 'CREATE_DISCOUNT');

-- CreateEnum
CREATE TYPE "EnrollmentStatus" AS ENUM ('QUEUED', 'ACTIVE', 'PAUSED', 'COMPLETED', 'CANCELLED', 'STOPPED', 'FAILED');

-- CreateEnum
CREATE TYPE "StepRunStatus" AS ENUM ('SCHEDULED', 'SENT', 'SKIPPED', 'FAILED', 'CANCELLED');

-- CreateEnum
CREATE TYPE "MessageStatus" AS ENUM ('QUEUED', 'SENT', 'DELIVERED', 'OPENED', 'CLICKED', 'BOUNCED', 'FAILED');

-- CreateEnum
CREATE TYPE "ReplySentiment" AS ENUM ('POSITIVE', 'NEUTRAL', 'NEGATIVE');

-- CreateEnum
CREATE TYPE "MessageEventType" AS ENUM ('OPEN', 'CLICK', 'UNSUBSCRIBE', 'BOUNCE', 'COMPLAINT', 'REPLY', 'DELIVERY');

-- CreateTable
CREATE TABLE "Workspace" (
    "id" UUID NOT NULL,
    "name" TEXT NOT NULL,
    "stripeSecretKey" TEXT,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "Workspace_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "ApiKey" (
    "id" UUID NOT NULL,
    "workspaceId" UUID NOT NULL,
    "name" TEXT NOT NULL,
    "hash" TEXT NOT NULL,
    "prefix" TEXT NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "lastUsedAt" TIMESTAMP(3),
    "revokedAt" TIMESTAMP(3),

    CONSTRAINT "ApiKey_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "Subscriber" (
    "id" UUID NOT NULL,
    "workspaceId" UUID NOT NULL,
    "email" TEXT NOT NULL,
    "firstName" TEXT,
    "lastName" TEXT,
    "attributes" JSONB NOT NULL DEFAULT '{}',
    "status" "SubscriberStatus" NOT NULL DEFAULT 'ACTIVE',
    "unsubscribedAt" TIMESTAMP(3),
    "bouncedAt" TIMESTAMP(3),
    "lastEventAt" TIMESTAMP(3),
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "Subscriber_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "Tag" (
    "id" UUID NOT NULL,
    "workspaceId" UUID NOT NULL,
    "name" TEXT NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "Tag_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "SubscriberTag" (
    "subscriberId" UUID NOT NULL,
    "tagId" UUID NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "SubscriberTag_pkey" PRIMARY KEY ("subscriberId","tagId")
);

-- CreateTable
CREATE TABLE "List" (
    "id" UUID NOT NULL,
    "workspaceId" UUID NOT NULL,
    "name" TEXT NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "List_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "ListMembership" (
    "listId" UUID NOT NULL,
    "subscriberId" UUID NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "ListMembership_pkey" PRIMARY KEY ("listId","subscriberId")
);

-- CreateTable
CREATE TABLE "Segment" (
    "id" UUID NOT NULL,
    "workspaceId" UUID NOT NULL,
    "name" TEXT NOT NULL,
    "definition" JSONB NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "Segment_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "SegmentMembership" (
    "segmentId" UUID NOT NULL,
    "subscriberId" UUID NOT NULL,
    "enteredAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "SegmentMembership_pkey" PRIMARY KEY ("segmentId","subscriberId")
);

-- CreateTable
CREATE TABLE "Event" (
    "id" UUID NOT NULL,
    "workspaceId" UUID NOT NULL,
    "subscriberId" UUID NOT NULL,
    "name" TEXT NOT NULL,
    "properties" JSONB NOT NULL DEFAULT '{}',
    "idempotencyKey" TEXT,
    "occurredAt" TIMESTAMP(3) NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "Event_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "Sequence" (
    "id" UUID NOT NULL,
    "workspaceId" UUID NOT NULL,
    "slug" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "description" TEXT,
    "tags" TEXT[] DEFAULT ARRAY[]::TEXT[],
    "status" "SequenceStatus" NOT NULL DEFAULT 'DRAFT',
    "enabledAt" TIMESTAMP(3),
    "triggerType" "TriggerType" NOT NULL,
    "triggerListId" UUID,
    "triggerTagName" TEXT,
    "triggerSegmentId" UUID,
    "triggerEventName" TEXT,
    "triggerInactiveDays" INTEGER,
    "triggerMinCount" INTEGER,
    "triggerTimeWindowDays" INTEGER,
    "enrollmentMode" "EnrollmentMode" NOT NULL DEFAULT 'UNLIMITED',
    "enrollmentFieldPath" TEXT,
    "stopConditionType" "StopConditionType" NOT NULL DEFAULT 'NONE',
    "stopConditionValue" TEXT,
    "primaryReplyAction" "ReplyAction" NOT NULL DEFAULT 'FINISH',
    "primaryReplyPauseDuration" INTEGER,
    "throttleCapacity" INTEGER,
    "throttleMaxAddsPerDay" INTEGER,
    "throttlePaused" BOOLEAN NOT NULL DEFAULT false,
    "maxActivations" INTEGER,
    "transactional" BOOLEAN NOT NULL DEFAULT false,
    "sendWindow" JSONB,
    "goal" TEXT,
    "emailCount" INTEGER,
    "generationStatus" "GenerationStatus" NOT NULL DEFAULT 'NONE',
    "generationError" TEXT,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,
    "lastUsedAt" TIMESTAMP(3),

    CONSTRAINT "Sequence_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "Step" (
    "id" UUID NOT NULL,
    "sequenceId" UUID NOT NULL,
    "position" INTEGER,
    "type" "StepType" NOT NULL,
    "name" TEXT,
    "delayDays" INTEGER NOT NULL DEFAULT 0,
    "delayHours" INTEGER NOT NULL DEFAULT 0,
    "delayMinutes" INTEGER NOT NULL DEFAULT 0,
    "subject" TEXT,
    "previewText" TEXT,
    "blocks" JSONB,
    "discount" JSONB,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,
    "removedAt" TIMESTAMP(3),

    CONSTRAINT "Step_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "Enrollment" (
    "id" UUID NOT NULL,
    "workspaceId" UUID NOT NULL,
    "sequenceId" UUID NOT NULL,
    "subscriberId" UUID NOT NULL,
    "status" "EnrollmentStatus" NOT NULL,
    "enrollmentKey" TEXT,
    "idempotencyKey" TEXT,
    "entryEventId" UUID,
    "entryEvent" JSONB,
    "currentStepPosition" INTEGER,
    "nextTriggerAt" TIMESTAMP(3),
    "startedAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "completedAt" TIMESTAMP(3),
    "cancelledAt" TIMESTAMP(3),
    "cancelReason" TEXT,
    "pausedAt" TIMESTAMP(3),
    "pausedUntil" TIMESTAMP(3),
    "failedAt" TIMESTAMP(3),
    "error" TEXT,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "Enrollment_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "StepRun" (
    "id" UUID NOT NULL,
    "enrollmentId" UUID NOT NULL,
    "stepId" UUID NOT NULL,
    "status" "StepRunStatus" NOT NULL DEFAULT 'SCHEDULED',
    "scheduledAt" TIMESTAMP(3) NOT NULL,
    "executedAt" TIMESTAMP(3),
    "attempts" INTEGER NOT NULL DEFAULT 0,
    "error" TEXT,
    "messageId" UUID,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "StepRun_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "Message" (
    "id" UUID NOT NULL,
    "workspaceId" UUID NOT NULL,
    "enrollmentId" UUID,
    "stepId" UUID,
    "subscriberId" UUID,
    "to" TEXT NOT NULL,
    "from" TEXT,
    "subject" TEXT NOT NULL,
    "previewText" TEXT,
    "html" TEXT NOT NULL,
    "text" TEXT,
    "status" "MessageStatus" NOT NULL DEFAULT 'QUEUED',
    "smtpMessageId" TEXT NOT NULL,
    "attempts" INTEGER NOT NULL DEFAULT 0,
    "error" TEXT,
    "sentAt" TIMESTAMP(3),
    "deliveredAt" TIMESTAMP(3),
    "openedAt" TIMESTAMP(3),
    "clickedAt" TIMESTAMP(3),
    "bouncedAt" TIMESTAMP(3),
    "complainedAt" TIMESTAMP(3),
    "repliedAt" TIMESTAMP(3),
    "replySentiment" "ReplySentiment",
    "replyFromPrimary" BOOLEAN,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "Message_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "MessageEvent" (
    "id" UUID NOT NULL,
    "messageId" UUID NOT NULL,
    "type" "MessageEventType" NOT NULL,
    "url" TEXT,
    "data" JSONB,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "MessageEvent_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "Discount" (
    "id" UUID NOT NULL,
    "workspaceId" UUID NOT NULL,
    "enrollmentId" UUID,
    "stepId" UUID,
    "subscriberId" UUID,
    "provider" TEXT NOT NULL,
    "code" TEXT NOT NULL,
    "discountType" TEXT NOT NULL,
    "percentOff" DOUBLE PRECISION,
    "amountOff" INTEGER,
    "currency" TEXT,
    "duration" TEXT,
    "durationInMonths" INTEGER,
    "planIds" TEXT[] DEFAULT ARRAY[]::TEXT[],
    "maxRedemptions" INTEGER,
    "lockedToSubscriber" BOOLEAN NOT NULL DEFAULT false,
    "expiresAt" TIMESTAMP(3),
    "externalId" TEXT,
    "externalCouponId" TEXT,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "Discount_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "EnrollmentChange" (
    "id" BIGSERIAL NOT NULL,
    "seq" BIGINT NOT NULL,
    "workspaceId" UUID NOT NULL,
    "enrollmentId" UUID NOT NULL,
    "sequenceId" UUID NOT NULL,
    "subscriberId" UUID NOT NULL,
    "previousStatus" "EnrollmentStatus",
    "status" "EnrollmentStatus" NOT NULL,
    "reason" TEXT,
    "occurredAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "EnrollmentChange_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "ApiKey_hash_key" ON "ApiKey"("hash");

-- CreateIndex
CREATE INDEX "ApiKey_workspaceId_idx" ON "ApiKey"("workspaceId");

-- CreateIndex
CREATE INDEX "Subscriber_workspaceId_createdAt_idx" ON "Subscriber"("workspaceId", "createdAt");

-- CreateIndex
CREATE UNIQUE INDEX "Subscriber_workspaceId_email_key" ON "Subscriber"("workspaceId", "email");

-- CreateIndex
CREATE UNIQUE INDEX "Tag_workspaceId_name_key" ON "Tag"("workspaceId", "name");

-- CreateIndex
CREATE INDEX "SubscriberTag_tagId_idx" ON "SubscriberTag"("tagId");

-- CreateIndex
CREATE UNIQUE INDEX "List_workspaceId_name_key" ON "List"("workspaceId", "name");

-- CreateIndex
CREATE INDEX "ListMembership_subscriberId_idx" ON "ListMembership"("subscriberId");

-- CreateIndex
CREATE INDEX "Segment_workspaceId_idx" ON "Segment"("workspaceId");

-- CreateIndex
CREATE INDEX "SegmentMembership_subscriberId_idx" ON "SegmentMembership"("subscriberId");

-- CreateIndex
CREATE INDEX "Event_subscriberId_name_occurredAt_idx" ON "Event"("subscriberId", "name", "occurredAt");

-- CreateIndex
CREATE INDEX "Event_workspaceId_name_occurredAt_idx" ON "Event"("workspaceId", "name", "occurredAt");

-- CreateIndex
CREATE UNIQUE INDEX "Event_workspaceId_idempotencyKey_key" ON "Event"("workspaceId", "idempotencyKey");

-- CreateIndex
CREATE INDEX "Sequence_workspaceId_status_createdAt_idx" ON "Sequence"("workspaceId", "status", "createdAt");

-- CreateIndex
CREATE INDEX "Sequence_workspaceId_triggerType_status_idx" ON "Sequence"("workspaceId", "triggerType", "status");

-- CreateIndex
CREATE UNIQUE INDEX "Sequence_workspaceId_slug_key" ON "Sequence"("workspaceId", "slug");

-- CreateIndex
CREATE UNIQUE INDEX "Step_sequenceId_position_key" ON "Step"("sequenceId", "position");

-- CreateIndex
CREATE INDEX "Enrollment_sequenceId_status_idx" ON "Enrollment"("sequenceId", "status");

-- CreateIndex
CREATE INDEX "Enrollment_sequenceId_enrollmentKey_idx" ON "Enrollment"("sequenceId", "enrollmentKey");

-- CreateIndex
CREATE INDEX "Enrollment_subscriberId_status_idx" ON "Enrollment"("subscriberId", "status");

-- CreateIndex
CREATE INDEX "Enrollment_workspaceId_idempotencyKey_idx" ON "Enrollment"("workspaceId", "idempotencyKey");

-- CreateIndex
CREATE INDEX "Enrollment_entryEvent_idx" ON "Enrollment" USING GIN ("entryEvent" jsonb_path_ops);

-- CreateIndex
CREATE UNIQUE INDEX "Enrollment_sequenceId_idempotencyKey_key" ON "Enrollment"("sequenceId", "idempotencyKey");

-- CreateIndex
CREATE UNIQUE INDEX "StepRun_messageId_key" ON "StepRun"("messageId");

-- CreateIndex
CREATE UNIQUE INDEX "StepRun_enrollmentId_stepId_key" ON "StepRun"("enrollmentId", "stepId");

-- CreateIndex
CREATE UNIQUE INDEX "Message_smtpMessageId_key" ON "Message"("smtpMessageId");

-- CreateIndex
CREATE INDEX "Message_workspaceId_createdAt_idx" ON "Message"("workspaceId", "createdAt");

-- CreateIndex
CREATE INDEX "Message_workspaceId_to_idx" ON "Message"("workspaceId", "to");

-- CreateIndex
CREATE INDEX "Message_enrollmentId_idx" ON "Message"("enrollmentId");

-- CreateIndex
CREATE INDEX "Message_stepId_status_idx" ON "Message"("stepId", "status");

-- CreateIndex
CREATE INDEX "MessageEvent_messageId_type_idx" ON "MessageEvent"("messageId", "type");

-- CreateIndex
CREATE INDEX "Discount_enrollmentId_createdAt_idx" ON "Discount"("enrollmentId", "createdAt");

-- CreateIndex
CREATE UNIQUE INDEX "Discount_workspaceId_code_key" ON "Discount"("workspaceId", "code");

-- CreateIndex
CREATE INDEX "EnrollmentChange_enrollmentId_idx" ON "EnrollmentChange"("enrollmentId");

-- CreateIndex
CREATE UNIQUE INDEX "EnrollmentChange_workspaceId_seq_key" ON "EnrollmentChange"("workspaceId", "seq");

-- AddForeignKey
ALTER TABLE "ApiKey" ADD CONSTRAINT "ApiKey_workspaceId_fkey" FOREIGN KEY ("workspaceId") REFERENCES "Workspace"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Subscriber" ADD CONSTRAINT "Subscriber_workspaceId_fkey" FOREIGN KEY ("workspaceId") REFERENCES "Workspace"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Tag" ADD CONSTRAINT "Tag_workspaceId_fkey" FOREIGN KEY ("workspaceId") REFERENCES "Workspace"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "SubscriberTag" ADD CONSTRAINT "SubscriberTag_subscriberId_fkey" FOREIGN KEY ("subscriberId") REFERENCES "Subscriber"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "SubscriberTag" ADD CONSTRAINT "SubscriberTag_tagId_fkey" FOREIGN KEY ("tagId") REFERENCES "Tag"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "List" ADD CONSTRAINT "List_workspaceId_fkey" FOREIGN KEY ("workspaceId") REFERENCES "Workspace"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "ListMembership" ADD CONSTRAINT "ListMembership_listId_fkey" FOREIGN KEY ("listId") REFERENCES "List"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "ListMembership" ADD CONSTRAINT "ListMembership_subscriberId_fkey" FOREIGN KEY ("subscriberId") REFERENCES "Subscriber"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Segment" ADD CONSTRAINT "Segment_workspaceId_fkey" FOREIGN KEY ("workspaceId") REFERENCES "Workspace"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "SegmentMembership" ADD CONSTRAINT "SegmentMembership_segmentId_fkey" FOREIGN KEY ("segmentId") REFERENCES "Segment"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "SegmentMembership" ADD CONSTRAINT "SegmentMembership_subscriberId_fkey" FOREIGN KEY ("subscriberId") REFERENCES "Subscriber"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Event" ADD CONSTRAINT "Event_workspaceId_fkey" FOREIGN KEY ("workspaceId") REFERENCES "Workspace"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Event" ADD CONSTRAINT "Event_subscriberId_fkey" FOREIGN KEY ("subscriberId") REFERENCES "Subscriber"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Sequence" ADD CONSTRAINT "Sequence_workspaceId_fkey" FOREIGN KEY ("workspaceId") REFERENCES "Workspace"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Step" ADD CONSTRAINT "Step_sequenceId_fkey" FOREIGN KEY ("sequenceId") REFERENCES "Sequence"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Enrollment" ADD CONSTRAINT "Enrollment_workspaceId_fkey" FOREIGN KEY ("workspaceId") REFERENCES "Workspace"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Enrollment" ADD CONSTRAINT "Enrollment_sequenceId_fkey" FOREIGN KEY ("sequenceId") REFERENCES "Sequence"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Enrollment" ADD CONSTRAINT "Enrollment_subscriberId_fkey" FOREIGN KEY ("subscriberId") REFERENCES "Subscriber"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Enrollment" ADD CONSTRAINT "Enrollment_entryEventId_fkey" FOREIGN KEY ("entryEventId") REFERENCES "Event"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "StepRun" ADD CONSTRAINT "StepRun_enrollmentId_fkey" FOREIGN KEY ("enrollmentId") REFERENCES "Enrollment"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "StepRun" ADD CONSTRAINT "StepRun_stepId_fkey" FOREIGN KEY ("stepId") REFERENCES "Step"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "StepRun" ADD CONSTRAINT "StepRun_messageId_fkey" FOREIGN KEY ("messageId") REFERENCES "Message"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Message" ADD CONSTRAINT "Message_workspaceId_fkey" FOREIGN KEY ("workspaceId") REFERENCES "Workspace"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Message" ADD CONSTRAINT "Message_enrollmentId_fkey" FOREIGN KEY ("enrollmentId") REFERENCES "Enrollment"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Message" ADD CONSTRAINT "Message_stepId_fkey" FOREIGN KEY ("stepId") REFERENCES "Step"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Message" ADD CONSTRAINT "Message_subscriberId_fkey" FOREIGN KEY ("subscriberId") REFERENCES "Subscriber"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "MessageEvent" ADD CONSTRAINT "MessageEvent_messageId_fkey" FOREIGN KEY ("messageId") REFERENCES "Message"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Discount" ADD CONSTRAINT "Discount_workspaceId_fkey" FOREIGN KEY ("workspaceId") REFERENCES "Workspace"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Discount" ADD CONSTRAINT "Discount_enrollmentId_fkey" FOREIGN KEY ("enrollmentId") REFERENCES "Enrollment"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Discount" ADD CONSTRAINT "Discount_stepId_fkey" FOREIGN KEY ("stepId") REFERENCES "Step"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Discount" ADD CONSTRAINT "Discount_subscriberId_fkey" FOREIGN KEY ("subscriberId") REFERENCES "Subscriber"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "EnrollmentChange" ADD CONSTRAINT "EnrollmentChange_enrollmentId_fkey" FOREIGN KEY ("enrollmentId") REFERENCES "Enrollment"("id") ON DELETE CASCADE ON UPDATE CASCADE;
