import { beforeAll, describe, expect, it } from 'vitest';
import mjml2html from 'mjml';
import { useTestApp } from '../helpers/app.js';

const t = await useTestApp();
let ws: Awaited<ReturnType<typeof t.workspace>>;

const CREATE = `mutation($input: CreateSequenceInput!) {
  createSequence(input: $input) {
    sequence { id steps { position subject blocks } }
    errors { field message code }
  }
}`;

beforeAll(async () => {
  ws = await t.workspace();
});

describe('createSequence with an html step', () => {
  it('stores the imported blocks and reads them back', async () => {
    const { html } = await mjml2html(`<mjml><mj-body><mj-section><mj-column>
      <mj-text><h1>Welcome, {{subscriber.firstName|friend}}</h1><p>Glad you are <b>here</b>.</p></mj-text>
      <mj-button href="https://example.com/start">Get started</mj-button>
      <mj-raw><script>alert(1)</script><blockquote onclick="x()">Quoted</blockquote></mj-raw>
    </mj-column></mj-section></mj-body></mjml>`);
    const res = await ws.gql(CREATE, {
      input: { name: 'Imported', trigger: 'MANUAL', steps: [{ subject: 'Hello', html, delay: { days: 0 } }] },
    });
    expect(res.errors).toBeUndefined();
    const { sequence, errors } = res.data.createSequence;
    expect(errors).toEqual([]);
    expect(sequence.steps).toHaveLength(1);
    expect(sequence.steps[0].blocks).toEqual([
      { id: 'b1', type: 'heading', text: 'Welcome, {{subscriber.firstName|friend}}', level: 1 },
      { id: 'b2', type: 'text', text: 'Glad you are <b>here</b>.', variant: 'body' },
      { id: 'b3', type: 'button', text: 'Get started', url: 'https://example.com/start', align: 'center' },
      { id: 'b4', type: 'html', html: '<blockquote>Quoted</blockquote>' },
    ]);

    // Read back through a fresh query too: what is stored is the blocks, not the html.
    const again = await ws.gql(`query($id: ID!) { node(id: $id) { ... on Sequence { steps { blocks } } } }`, { id: sequence.id });
    expect(again.errors).toBeUndefined();
    expect(again.data.node.steps[0].blocks).toEqual(sequence.steps[0].blocks);
  });

  it('rejects html combined with blocks, writing nothing', async () => {
    const before = await t.prisma.sequence.count();
    const res = await ws.gql(CREATE, {
      input: {
        name: 'Both',
        trigger: 'MANUAL',
        steps: [{ subject: 'Hello', html: '<p>Hi</p>', blocks: [{ type: 'text', text: 'Hi' }] }],
      },
    });
    expect(res.errors).toBeUndefined();
    expect(res.data.createSequence.sequence).toBeNull();
    expect(res.data.createSequence.errors).toContainEqual(
      expect.objectContaining({ field: ['input', 'steps', '0', 'html'], code: 'VALIDATION' }),
    );
    expect(await t.prisma.sequence.count()).toBe(before);
  });
});
