// Shared by the tracking tests: the engine, tracking links pointing at the test
// server's real port, and a two-email sequence whose first email carries links.
import { expect } from 'vitest';
import { useTestEngine } from '../helpers/engine.js';

export async function useTrackingEngine() {
  const t = await useTestEngine();
  const port = await t.app.start(0, '127.0.0.1');
  const base = `http://127.0.0.1:${port}`;
  t.runtime.tracking.configure({ publicUrl: base });
  const ws = await t.workspace();

  async function sequence(name: string, extra: Record<string, unknown> = {}) {
    const res = await ws.gql(
      `mutation($input: CreateSequenceInput!) { createSequence(input: $input) { sequence { id steps { id } } errors { field message } } }`,
      {
        input: {
          name,
          trigger: 'EVENT_RECEIVED',
          eventName: `${name}.start`,
          steps: [
            {
              subject: 'Welcome',
              blocks: [
                { type: 'text', text: 'See <a href="https://example.com/pricing?plan=pro&amp;ref=mail">pricing</a>.' },
                { type: 'button', text: 'Start', url: 'https://example.com/start' },
              ],
            },
            { subject: 'Second', blocks: [{ type: 'text', text: 'Still there?' }], delay: { days: 1 } },
          ],
          ...extra,
        },
      },
    );
    expect(res.data.createSequence.errors).toEqual([]);
    const id = res.data.createSequence.sequence.id as string;
    expect((await ws.gql(`mutation($id: ID!) { enableSequence(id: $id) { errors { message } } }`, { id })).data.enableSequence.errors).toEqual([]);
    return id;
  }

  /** Starts a run for `email`; returns its enrollment id. */
  async function enroll(sequenceName: string, email: string): Promise<string> {
    const res = await ws.gql(`mutation($input: TrackEventInput!) { trackEvent(input: $input) { enrollments { id } errors { message } } }`, {
      input: { email, event: `${sequenceName}.start` },
    });
    expect(res.data.trackEvent.errors).toEqual([]);
    return res.data.trackEvent.enrollments[0].id;
  }

  async function stats(sequenceId: string) {
    const res = await ws.gql(
      `query($id: ID!) { sequence(id: $id) { stats { enrolled active completed cancelled stopped sent delivered opened clicked replied positiveReplies neutralReplies negativeReplies bounced optedOut failed } } }`,
      { id: sequenceId },
    );
    return res.data.sequence.stats;
  }

  /** The tracking URLs in a sent email's HTML. */
  function links(html: string) {
    const hrefs = [...html.matchAll(/href="([^"]+)"/g)].map((m) => m[1]!.replaceAll('&amp;', '&'));
    const pixel = /src="([^"]+\/t\/o\/[^"]+)"/.exec(html)?.[1];
    return {
      pixel: pixel!,
      clicks: hrefs.filter((h) => h.includes('/t/c/')),
      unsubscribe: hrefs.find((h) => h.includes('/t/u/'))!,
    };
  }

  return { ...t, port, base, ws, sequence, enroll, stats, links };
}
