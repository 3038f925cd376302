// Sequenzy's documented block example through createSequence: accepted, stored
// and returned in Stepwise's one canonical form; bad blocks refused with a path.
import { beforeAll, describe, expect, it } from 'vitest';
import { useTestApp } from '../helpers/app.js';

const t = await useTestApp();
let ws: Awaited<ReturnType<typeof t.workspace>>;

const CREATE = `mutation($input: CreateSequenceInput!) {
  createSequence(input: $input) { sequence { id steps { blocks } } errors { field message code } }
}`;

beforeAll(async () => {
  ws = await t.workspace();
});

describe('Sequenzy blocks', () => {
  it('accepts their example and stores our form', async () => {
    const res = await ws.gql(CREATE, {
      input: {
        name: 'From Sequenzy',
        trigger: 'MANUAL',
        steps: [
          {
            subject: 'Welcome',
            blocks: [
              { id: 'heading-1', type: 'heading', content: 'Welcome!', level: 1 },
              { id: 'text-1', type: 'text', content: '<p>Thanks for signing up.</p>', variant: 'paragraph' },
            ],
          },
        ],
      },
    });
    expect(res.data.createSequence.errors).toEqual([]);
    const expected = [
      { id: 'heading-1', type: 'heading', text: 'Welcome!', level: 1 },
      { id: 'text-1', type: 'text', text: 'Thanks for signing up.', variant: 'body' },
    ];
    expect(res.data.createSequence.sequence.steps[0].blocks).toEqual(expected);
    const [row] = await t.prisma.step.findMany({ where: { sequence: { name: 'From Sequenzy' } } });
    expect(row!.blocks).toEqual(expected);
  });

  it('refuses an unknown key and a block mixing both spellings, writing nothing', async () => {
    const res = await ws.gql(CREATE, {
      input: {
        name: 'Bad blocks',
        trigger: 'MANUAL',
        steps: [{ subject: 'x', blocks: [{ type: 'heading', content: 'Hi', fontSize: 20 }, { type: 'text', text: 'a', content: 'b' }] }],
      },
    });
    const { sequence, errors } = res.data.createSequence;
    expect(sequence).toBeNull();
    expect(errors).toContainEqual({ field: ['input', 'steps', '0', 'blocks', '1', 'content'], message: 'Give either text or content, not both', code: 'VALIDATION' });
    expect(await t.prisma.sequence.count({ where: { name: 'Bad blocks' } })).toBe(0);
  });
});
