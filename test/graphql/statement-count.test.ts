import { expect, it } from 'vitest';
import { useTestApp } from '../helpers/app.js';

const statements: string[] = [];
const t = await useTestApp({ onQuery: (sql) => statements.push(sql) });

it('loads 50 sequences with their steps, stats and runs in a bounded number of statements', async () => {
  const ws = await t.workspace();
  const steps = [1, 2, 3].map((i) => ({ subject: `Email ${i}`, blocks: [{ type: 'text', text: 'Hi' }], delay: { days: i } }));
  for (let i = 0; i < 50; i++) {
    const res = await ws.gql(`mutation($input: CreateSequenceInput!) { createSequence(input: $input) { errors { message } } }`, {
      input: { name: `Sequence ${i}`, trigger: 'MANUAL', steps },
    });
    expect(res.data.createSequence.errors).toEqual([]);
  }
  statements.length = 0;
  const res = await ws.gql(`{
    sequences(first: 50) {
      totalCount
      edges { node {
        id name stepCount durationInDays trigger { type }
        steps { id position subject delay { days } stats { sent opened } }
        stats { enrolled active completed sent opened clicked replied }
        enrollments(first: 5) { totalCount edges { node { id status } } }
      } }
    }
  }`);
  expect(res.errors).toBeUndefined();
  expect(res.data.sequences.edges).toHaveLength(50);
  expect(res.data.sequences.edges[0].node.steps).toHaveLength(3);
  expect(res.data.sequences.edges[0].node.durationInDays).toBe(6);
  // The count does not grow with the number of sequences or steps.
  console.log(`statements: ${statements.length}`);
  expect(statements.length).toBeLessThanOrEqual(10);
});
