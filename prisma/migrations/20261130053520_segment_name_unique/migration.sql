-- Segment names become unique per workspace (createSegment answers NAME_TAKEN).
-- Names already used twice keep their first segment; the later ones get " (2)",
-- " (3)"... appended, so no segment is lost.
UPDATE "Segment" s SET name = s.name || ' (' || d.n || ')'
FROM (
  SELECT id, row_number() OVER (PARTITION BY "workspaceId", name ORDER BY "createdAt", id) AS n FROM "Segment"
) d
WHERE d.id = s.id AND d.n > 1;

-- DropIndex
DROP INDEX "Segment_workspaceId_idx";

-- CreateIndex
CREATE UNIQUE INDEX "Segment_workspaceId_name_key" ON "Segment"("workspaceId", "name");
