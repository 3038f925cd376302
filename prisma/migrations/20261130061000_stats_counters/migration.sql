-- CreateTable
CREATE TABLE "StepMessageCount" (
    "stepId" UUID NOT NULL,
    "shard" INTEGER NOT NULL,
    "sent" INTEGER NOT NULL DEFAULT 0,
    "delivered" INTEGER NOT NULL DEFAULT 0,
    "opened" INTEGER NOT NULL DEFAULT 0,
    "clicked" INTEGER NOT NULL DEFAULT 0,
    "replied" INTEGER NOT NULL DEFAULT 0,
    "positiveReplies" INTEGER NOT NULL DEFAULT 0,
    "neutralReplies" INTEGER NOT NULL DEFAULT 0,
    "negativeReplies" INTEGER NOT NULL DEFAULT 0,
    "bounced" INTEGER NOT NULL DEFAULT 0,
    "optedOut" INTEGER NOT NULL DEFAULT 0,
    "failed" INTEGER NOT NULL DEFAULT 0,

    CONSTRAINT "StepMessageCount_pkey" PRIMARY KEY ("stepId","shard")
);

-- CreateTable
CREATE TABLE "SequenceRunCount" (
    "sequenceId" UUID NOT NULL,
    "status" "EnrollmentStatus" NOT NULL,
    "shard" INTEGER NOT NULL,
    "count" INTEGER NOT NULL DEFAULT 0,

    CONSTRAINT "SequenceRunCount_pkey" PRIMARY KEY ("sequenceId","status","shard")
);

-- AddForeignKey
ALTER TABLE "StepMessageCount" ADD CONSTRAINT "StepMessageCount_stepId_fkey" FOREIGN KEY ("stepId") REFERENCES "Step"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "SequenceRunCount" ADD CONSTRAINT "SequenceRunCount_sequenceId_fkey" FOREIGN KEY ("sequenceId") REFERENCES "Sequence"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- The counters are kept by statement-level triggers with transition tables: one
-- grouped upsert per writing statement (a bulk insert of 100,000 messages is one
-- upsert per step), nothing when no counted column changed, and every writer
-- (engine, tracking, webhooks, tests) counts without knowing. Each backend
-- writes its own shard (pid % 64) so parallel senders do not queue on one row
-- until commit; rows are locked in key order within a statement. Steps and
-- sequences being deleted are skipped (their counters go with them).
-- Prisma does not model triggers: they live only here, and the drift check ignores them.

-- No write may slip between the backfill and the triggers.
LOCK TABLE "Message", "Enrollment" IN SHARE ROW EXCLUSIVE MODE;

INSERT INTO "StepMessageCount" AS c ("stepId", shard, "sent", "delivered", "opened", "clicked", "replied", "positiveReplies", "neutralReplies", "negativeReplies", "bounced", "optedOut", "failed")
SELECT r."stepId", 0, count(*) FILTER (WHERE r."sentAt" IS NOT NULL), count(*) FILTER (WHERE r."deliveredAt" IS NOT NULL), count(*) FILTER (WHERE r."openedAt" IS NOT NULL), count(*) FILTER (WHERE r."clickedAt" IS NOT NULL), count(*) FILTER (WHERE r."repliedAt" IS NOT NULL), count(*) FILTER (WHERE r."replySentiment" = 'POSITIVE'), count(*) FILTER (WHERE r."replySentiment" = 'NEUTRAL'), count(*) FILTER (WHERE r."replySentiment" = 'NEGATIVE'), count(*) FILTER (WHERE r."bouncedAt" IS NOT NULL), count(*) FILTER (WHERE r."unsubscribedAt" IS NOT NULL), count(*) FILTER (WHERE r.status = 'FAILED')
FROM "Message" r WHERE r."stepId" IS NOT NULL GROUP BY r."stepId";

INSERT INTO "SequenceRunCount" ("sequenceId", status, shard, count)
SELECT "sequenceId", status, 0, count(*) FROM "Enrollment" GROUP BY "sequenceId", status;

CREATE FUNCTION "stepwise_count_messages"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    INSERT INTO "StepMessageCount" AS c ("stepId", shard, "sent", "delivered", "opened", "clicked", "replied", "positiveReplies", "neutralReplies", "negativeReplies", "bounced", "optedOut", "failed")
    SELECT d."stepId", pg_backend_pid() % 64, sum(d."sent"), sum(d."delivered"), sum(d."opened"), sum(d."clicked"), sum(d."replied"), sum(d."positiveReplies"), sum(d."neutralReplies"), sum(d."negativeReplies"), sum(d."bounced"), sum(d."optedOut"), sum(d."failed")
    FROM (SELECT r."stepId", +(r."sentAt" IS NOT NULL)::int AS "sent", +(r."deliveredAt" IS NOT NULL)::int AS "delivered", +(r."openedAt" IS NOT NULL)::int AS "opened", +(r."clickedAt" IS NOT NULL)::int AS "clicked", +(r."repliedAt" IS NOT NULL)::int AS "replied", +(r."replySentiment" IS NOT DISTINCT FROM 'POSITIVE')::int AS "positiveReplies", +(r."replySentiment" IS NOT DISTINCT FROM 'NEUTRAL')::int AS "neutralReplies", +(r."replySentiment" IS NOT DISTINCT FROM 'NEGATIVE')::int AS "negativeReplies", +(r."bouncedAt" IS NOT NULL)::int AS "bounced", +(r."unsubscribedAt" IS NOT NULL)::int AS "optedOut", +(r.status = 'FAILED')::int AS "failed" FROM new_rows r WHERE r."stepId" IS NOT NULL) d
    WHERE EXISTS (SELECT 1 FROM "Step" s WHERE s.id = d."stepId")
    GROUP BY d."stepId"
    HAVING sum(d."sent") <> 0 OR sum(d."delivered") <> 0 OR sum(d."opened") <> 0 OR sum(d."clicked") <> 0 OR sum(d."replied") <> 0 OR sum(d."positiveReplies") <> 0 OR sum(d."neutralReplies") <> 0 OR sum(d."negativeReplies") <> 0 OR sum(d."bounced") <> 0 OR sum(d."optedOut") <> 0 OR sum(d."failed") <> 0
    ORDER BY d."stepId"
    ON CONFLICT ("stepId", shard) DO UPDATE SET "sent" = c."sent" + EXCLUDED."sent", "delivered" = c."delivered" + EXCLUDED."delivered", "opened" = c."opened" + EXCLUDED."opened", "clicked" = c."clicked" + EXCLUDED."clicked", "replied" = c."replied" + EXCLUDED."replied", "positiveReplies" = c."positiveReplies" + EXCLUDED."positiveReplies", "neutralReplies" = c."neutralReplies" + EXCLUDED."neutralReplies", "negativeReplies" = c."negativeReplies" + EXCLUDED."negativeReplies", "bounced" = c."bounced" + EXCLUDED."bounced", "optedOut" = c."optedOut" + EXCLUDED."optedOut", "failed" = c."failed" + EXCLUDED."failed";
  ELSIF TG_OP = 'DELETE' THEN
    INSERT INTO "StepMessageCount" AS c ("stepId", shard, "sent", "delivered", "opened", "clicked", "replied", "positiveReplies", "neutralReplies", "negativeReplies", "bounced", "optedOut", "failed")
    SELECT d."stepId", pg_backend_pid() % 64, sum(d."sent"), sum(d."delivered"), sum(d."opened"), sum(d."clicked"), sum(d."replied"), sum(d."positiveReplies"), sum(d."neutralReplies"), sum(d."negativeReplies"), sum(d."bounced"), sum(d."optedOut"), sum(d."failed")
    FROM (SELECT r."stepId", -(r."sentAt" IS NOT NULL)::int AS "sent", -(r."deliveredAt" IS NOT NULL)::int AS "delivered", -(r."openedAt" IS NOT NULL)::int AS "opened", -(r."clickedAt" IS NOT NULL)::int AS "clicked", -(r."repliedAt" IS NOT NULL)::int AS "replied", -(r."replySentiment" IS NOT DISTINCT FROM 'POSITIVE')::int AS "positiveReplies", -(r."replySentiment" IS NOT DISTINCT FROM 'NEUTRAL')::int AS "neutralReplies", -(r."replySentiment" IS NOT DISTINCT FROM 'NEGATIVE')::int AS "negativeReplies", -(r."bouncedAt" IS NOT NULL)::int AS "bounced", -(r."unsubscribedAt" IS NOT NULL)::int AS "optedOut", -(r.status = 'FAILED')::int AS "failed" FROM old_rows r WHERE r."stepId" IS NOT NULL) d
    WHERE EXISTS (SELECT 1 FROM "Step" s WHERE s.id = d."stepId")
    GROUP BY d."stepId"
    HAVING sum(d."sent") <> 0 OR sum(d."delivered") <> 0 OR sum(d."opened") <> 0 OR sum(d."clicked") <> 0 OR sum(d."replied") <> 0 OR sum(d."positiveReplies") <> 0 OR sum(d."neutralReplies") <> 0 OR sum(d."negativeReplies") <> 0 OR sum(d."bounced") <> 0 OR sum(d."optedOut") <> 0 OR sum(d."failed") <> 0
    ORDER BY d."stepId"
    ON CONFLICT ("stepId", shard) DO UPDATE SET "sent" = c."sent" + EXCLUDED."sent", "delivered" = c."delivered" + EXCLUDED."delivered", "opened" = c."opened" + EXCLUDED."opened", "clicked" = c."clicked" + EXCLUDED."clicked", "replied" = c."replied" + EXCLUDED."replied", "positiveReplies" = c."positiveReplies" + EXCLUDED."positiveReplies", "neutralReplies" = c."neutralReplies" + EXCLUDED."neutralReplies", "negativeReplies" = c."negativeReplies" + EXCLUDED."negativeReplies", "bounced" = c."bounced" + EXCLUDED."bounced", "optedOut" = c."optedOut" + EXCLUDED."optedOut", "failed" = c."failed" + EXCLUDED."failed";
  ELSE
    INSERT INTO "StepMessageCount" AS c ("stepId", shard, "sent", "delivered", "opened", "clicked", "replied", "positiveReplies", "neutralReplies", "negativeReplies", "bounced", "optedOut", "failed")
    SELECT d."stepId", pg_backend_pid() % 64, sum(d."sent"), sum(d."delivered"), sum(d."opened"), sum(d."clicked"), sum(d."replied"), sum(d."positiveReplies"), sum(d."neutralReplies"), sum(d."negativeReplies"), sum(d."bounced"), sum(d."optedOut"), sum(d."failed")
    FROM (SELECT r."stepId", +(r."sentAt" IS NOT NULL)::int AS "sent", +(r."deliveredAt" IS NOT NULL)::int AS "delivered", +(r."openedAt" IS NOT NULL)::int AS "opened", +(r."clickedAt" IS NOT NULL)::int AS "clicked", +(r."repliedAt" IS NOT NULL)::int AS "replied", +(r."replySentiment" IS NOT DISTINCT FROM 'POSITIVE')::int AS "positiveReplies", +(r."replySentiment" IS NOT DISTINCT FROM 'NEUTRAL')::int AS "neutralReplies", +(r."replySentiment" IS NOT DISTINCT FROM 'NEGATIVE')::int AS "negativeReplies", +(r."bouncedAt" IS NOT NULL)::int AS "bounced", +(r."unsubscribedAt" IS NOT NULL)::int AS "optedOut", +(r.status = 'FAILED')::int AS "failed" FROM new_rows r WHERE r."stepId" IS NOT NULL UNION ALL SELECT r."stepId", -(r."sentAt" IS NOT NULL)::int AS "sent", -(r."deliveredAt" IS NOT NULL)::int AS "delivered", -(r."openedAt" IS NOT NULL)::int AS "opened", -(r."clickedAt" IS NOT NULL)::int AS "clicked", -(r."repliedAt" IS NOT NULL)::int AS "replied", -(r."replySentiment" IS NOT DISTINCT FROM 'POSITIVE')::int AS "positiveReplies", -(r."replySentiment" IS NOT DISTINCT FROM 'NEUTRAL')::int AS "neutralReplies", -(r."replySentiment" IS NOT DISTINCT FROM 'NEGATIVE')::int AS "negativeReplies", -(r."bouncedAt" IS NOT NULL)::int AS "bounced", -(r."unsubscribedAt" IS NOT NULL)::int AS "optedOut", -(r.status = 'FAILED')::int AS "failed" FROM old_rows r WHERE r."stepId" IS NOT NULL) d
    WHERE EXISTS (SELECT 1 FROM "Step" s WHERE s.id = d."stepId")
    GROUP BY d."stepId"
    HAVING sum(d."sent") <> 0 OR sum(d."delivered") <> 0 OR sum(d."opened") <> 0 OR sum(d."clicked") <> 0 OR sum(d."replied") <> 0 OR sum(d."positiveReplies") <> 0 OR sum(d."neutralReplies") <> 0 OR sum(d."negativeReplies") <> 0 OR sum(d."bounced") <> 0 OR sum(d."optedOut") <> 0 OR sum(d."failed") <> 0
    ORDER BY d."stepId"
    ON CONFLICT ("stepId", shard) DO UPDATE SET "sent" = c."sent" + EXCLUDED."sent", "delivered" = c."delivered" + EXCLUDED."delivered", "opened" = c."opened" + EXCLUDED."opened", "clicked" = c."clicked" + EXCLUDED."clicked", "replied" = c."replied" + EXCLUDED."replied", "positiveReplies" = c."positiveReplies" + EXCLUDED."positiveReplies", "neutralReplies" = c."neutralReplies" + EXCLUDED."neutralReplies", "negativeReplies" = c."negativeReplies" + EXCLUDED."negativeReplies", "bounced" = c."bounced" + EXCLUDED."bounced", "optedOut" = c."optedOut" + EXCLUDED."optedOut", "failed" = c."failed" + EXCLUDED."failed";
  END IF;
  RETURN NULL;
END $$;

CREATE TRIGGER "Message_count_insert" AFTER INSERT ON "Message" REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION "stepwise_count_messages"();
CREATE TRIGGER "Message_count_update" AFTER UPDATE ON "Message" REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION "stepwise_count_messages"();
CREATE TRIGGER "Message_count_delete" AFTER DELETE ON "Message" REFERENCING OLD TABLE AS old_rows
  FOR EACH STATEMENT EXECUTE FUNCTION "stepwise_count_messages"();

CREATE FUNCTION "stepwise_count_runs"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    INSERT INTO "SequenceRunCount" AS c ("sequenceId", status, shard, count)
    SELECT d."sequenceId", d.status, pg_backend_pid() % 64, sum(d.n)
    FROM (SELECT r."sequenceId", r.status, 1 AS n FROM new_rows r) d
    WHERE EXISTS (SELECT 1 FROM "Sequence" q WHERE q.id = d."sequenceId")
    GROUP BY d."sequenceId", d.status
    HAVING sum(d.n) <> 0
    ORDER BY d."sequenceId", d.status
    ON CONFLICT ("sequenceId", status, shard) DO UPDATE SET count = c.count + EXCLUDED.count;
  ELSIF TG_OP = 'DELETE' THEN
    INSERT INTO "SequenceRunCount" AS c ("sequenceId", status, shard, count)
    SELECT d."sequenceId", d.status, pg_backend_pid() % 64, sum(d.n)
    FROM (SELECT r."sequenceId", r.status, -1 AS n FROM old_rows r) d
    WHERE EXISTS (SELECT 1 FROM "Sequence" q WHERE q.id = d."sequenceId")
    GROUP BY d."sequenceId", d.status
    HAVING sum(d.n) <> 0
    ORDER BY d."sequenceId", d.status
    ON CONFLICT ("sequenceId", status, shard) DO UPDATE SET count = c.count + EXCLUDED.count;
  ELSE
    INSERT INTO "SequenceRunCount" AS c ("sequenceId", status, shard, count)
    SELECT d."sequenceId", d.status, pg_backend_pid() % 64, sum(d.n)
    FROM (SELECT r."sequenceId", r.status, 1 AS n FROM new_rows r UNION ALL SELECT r."sequenceId", r.status, -1 AS n FROM old_rows r) d
    WHERE EXISTS (SELECT 1 FROM "Sequence" q WHERE q.id = d."sequenceId")
    GROUP BY d."sequenceId", d.status
    HAVING sum(d.n) <> 0
    ORDER BY d."sequenceId", d.status
    ON CONFLICT ("sequenceId", status, shard) DO UPDATE SET count = c.count + EXCLUDED.count;
  END IF;
  RETURN NULL;
END $$;

CREATE TRIGGER "Enrollment_count_insert" AFTER INSERT ON "Enrollment" REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION "stepwise_count_runs"();
CREATE TRIGGER "Enrollment_count_update" AFTER UPDATE ON "Enrollment" REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION "stepwise_count_runs"();
CREATE TRIGGER "Enrollment_count_delete" AFTER DELETE ON "Enrollment" REFERENCING OLD TABLE AS old_rows
  FOR EACH STATEMENT EXECUTE FUNCTION "stepwise_count_runs"();
