// Sequence.enrollments' totalCount and enrollmentsPage's count come from the run
// counters, not a count over the runs: they must say what that count says, for
// every status filter, also for several sequences in one query.
import { expect, it } from 'vitest';
import { decodeId } from '../../src/domain/public-id.js';
import { useTestApp } from '../helpers/app.js';

const t = await useTestApp();
const ERRORS = 'errors { field message code }';
const FILTERS = [null, ['ACTIVE'], ['CANCELLED'], ['ACTIVE', 'CANCELLED'], ['COMPLETED'], []];

it('equal a direct count of the runs for every status filter', async () => {
  const ws = await t.workspace();
  const sequences: string[] = [];
  for (const [n, runs] of [4, 0, 3].entries()) {
    const created = await ws.gql(`mutation($input: CreateSequenceInput!) { createSequence(input: $input) { sequence { id } ${ERRORS} } }`, {
      input: { name: `Counted ${n}`, trigger: 'MANUAL', steps: [{ subject: 'Hi', blocks: [{ type: 'text', text: 'Hi' }], delay: { days: 3 } }] },
    });
    const id = created.data.createSequence.sequence.id as string;
    sequences.push(id);
    await ws.gql(`mutation($id: ID!) { enableSequence(id: $id) { ${ERRORS} } }`, { id });
    for (let i = 0; i < runs; i++) {
      const res = await ws.gql(`mutation($input: EnrollSubscriberInput!) { enrollSubscriber(input: $input) { ${ERRORS} } }`, {
        input: { sequenceId: id, subscriber: { email: `c${n}-${i}@example.com` } },
      });
      expect(res.data.enrollSubscriber.errors).toEqual([]);
    }
  }
  // One run of the first sequence removed through the API, one of the last cancelled by a bare statement.
  const removed = await ws.gql(`mutation($input: RemoveSubscriberInput!) { removeSubscriberFromSequence(input: $input) { ${ERRORS} } }`, {
    input: { sequenceId: sequences[0], email: 'c0-1@example.com' },
  });
  expect(removed.data.removeSubscriberFromSequence.errors).toEqual([]);
  await t.prisma.$executeRawUnsafe(
    `UPDATE "Enrollment" SET status = 'CANCELLED' WHERE id = (SELECT id FROM "Enrollment" WHERE "sequenceId" = $1::uuid ORDER BY id LIMIT 1)`,
    decodeId('Sequence', sequences[2]!, ['id']),
  );

  for (const status of FILTERS) {
    const res = await ws.gql(
      `query($ids: [ID!]!, $status: [EnrollmentStatus!]) { nodes(ids: $ids) { ... on Sequence { id
        enrollments(first: 2, status: $status) { totalCount }
        enrollmentsPage(perPage: 2, status: $status) { count } } } }`,
      { ids: sequences, status },
    );
    expect(res.errors).toBeUndefined();
    for (const [i, id] of sequences.entries()) {
      const [direct] = await t.prisma.$queryRawUnsafe<{ n: number }[]>(
        `SELECT count(*)::int AS n FROM "Enrollment" WHERE "sequenceId" = $1::uuid AND ($2::text[] IS NULL OR status::text = ANY($2::text[]))`,
        decodeId('Sequence', id, ['id']),
        status,
      );
      const node = res.data.nodes[i];
      expect({ status, sequence: i, totalCount: node.enrollments.totalCount, count: node.enrollmentsPage.count }).toEqual({
        status,
        sequence: i,
        totalCount: direct!.n,
        count: direct!.n,
      });
    }
  }
});
