// The benchmarks' GraphQL client for one workspace's key: calls that throw on
// any error, and an enabled sequence of emails in one call.
import type { PrismaClient } from '../src/generated/prisma/client.js';

export interface BenchApi {
  endpoint: string;
  headers: Record<string, string>;
  /** Calls `query`; returns its one field's payload, throwing on GraphQL or payload errors. */
  gql(query: string, variables: Record<string, unknown>): Promise<any>;
  /** An enabled sequence; `settings` go through updateSequence (throttles are not create inputs). */
  sequence(name: string, eventName: string, steps: object[], settings?: object): Promise<{ id: string; dbId: string; stepIds: string[] }>;
}

/** An email step with merge tags from the subscriber and the event. */
export const benchEmail = (subject: string, delay?: object) => ({
  subject: `${subject} {{subscriber.firstName|friend}}`,
  blocks: [{ type: 'heading', text: 'Hello' }, { type: 'text', text: 'Plan: {{event.plan}}' }, { type: 'button', text: 'Open', url: 'https://example.com' }],
  ...(delay ? { delay } : {}),
});

export function benchApi(prisma: PrismaClient, endpoint: string, key: string): BenchApi {
  const headers = { authorization: `Bearer ${key}` };
  const gql = async (query: string, variables: Record<string, unknown>) => {
    const response = await fetch(endpoint, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify({ query, variables }) });
    const body = (await response.json()) as { data?: any; errors?: unknown[] };
    const payload = body.data && Object.values(body.data)[0];
    if (body.errors || (payload as any)?.errors?.length) throw new Error(`${query.slice(0, 60)}…: ${JSON.stringify(body.errors ?? (payload as any).errors)}`);
    return payload;
  };
  const sequence = async (name: string, eventName: string, steps: object[], settings: object = {}) => {
    const created = await gql(`mutation($input: CreateSequenceInput!) { createSequence(input: $input) { sequence { id } errors { field message } } }`, {
      input: { name, trigger: 'EVENT_RECEIVED', eventName, steps },
    });
    const id = created.sequence.id as string;
    if (Object.keys(settings).length) {
      await gql(`mutation($id: ID!, $input: UpdateSequenceInput!) { updateSequence(id: $id, input: $input) { errors { message } } }`, { id, input: settings });
    }
    await gql(`mutation($id: ID!) { enableSequence(id: $id) { errors { message } } }`, { id });
    const row = await prisma.sequence.findFirstOrThrow({ where: { name }, include: { steps: { orderBy: { position: 'asc' } } } });
    return { id, dbId: row.id, stepIds: row.steps.map((s) => s.id) };
  };
  return { endpoint, headers, gql, sequence };
}
