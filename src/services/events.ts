// Tracked events: trackEvent (one) and trackEvents (up to 1,000), both through
// one set-based path. Every event is checked first (input, subscriber, idempotency
// key); the good ones are then recorded together in one transaction with a
// handful of statements whatever their number: subscribers created in one
// INSERT, events in one, segments re-evaluated once, then the engine stops and
// starts runs for all of them at once. A bad event is reported with its index
// and not recorded; the others are.
import { isDeepStrictEqual } from 'node:util';
import { z } from 'zod';
import { emailSchema } from '../domain/email-address.js';
import { boundedJson } from '../domain/json-limits.js';
import { UserError, notFound } from '../domain/errors.js';
import { tryDecodeId } from '../domain/public-id.js';
import { uuidv7, uuidv7s } from '../domain/tracking-links.js';
import type { Fact } from '../domain/triggers.js';
import type { Tx } from '../db/client.js';
import { PREPARED_ROWS, transaction, txQuery } from '../db/transaction.js';
import { Prisma } from '../generated/prisma/client.js';
import { cachedDefinitions, workspaceDefinitions } from '../engine/definitions.js';
import { keepLiveVersions, liveVersionsSql } from '../engine/start-run.js';
import { advisoryLocks } from '../engine/locks.js';
import { applyFactsBatch, type EnrollmentSkip, type FactContext } from '../engine/triggers.js';
import { reevaluateSegments } from './segments.js';
import { externalIdSchema } from './audience.js';
import type { Actor, Caller } from '../auth/actor.js';
import { UserErrors, asUserErrors, parseInput } from './user-input.js';

const propertiesSchema = boundedJson(z.record(z.string(), z.json(), { message: 'must be a JSON object' }));
export const idempotencyKeySchema = z.string().trim().min(1, { message: 'must not be empty' }).max(200);

export const trackEventSchema = z
  .object({
    subscriberId: z.string().nullish(),
    email: emailSchema.nullish(),
    externalId: externalIdSchema.nullish(),
    event: z.string().trim().min(1, { message: 'must not be empty' }).max(200),
    properties: propertiesSchema.nullish(),
    idempotencyKey: idempotencyKeySchema.nullish(),
    occurredAt: z.date().nullish(),
  })
  .superRefine((input, ctx) => {
    if (input.subscriberId == null && input.email == null && input.externalId == null) {
      ctx.addIssue({ code: 'custom', path: ['subscriberId'], message: 'give subscriberId, externalId or email' });
    }
    if (input.subscriberId != null && input.externalId != null) {
      ctx.addIssue({ code: 'custom', path: ['externalId'], message: 'give subscriberId or externalId, not both' });
    }
  });
type TrackEventInput = z.output<typeof trackEventSchema>;

export interface TrackedEvent {
  eventId: string;
  enrollmentIds: string[];
  skipped: EnrollmentSkip[];
}

export type TrackEventOutcome = ({ ok: true } & TrackedEvent) | { ok: false; errors: UserError[] };

export const MAX_EVENTS = 1000;

/**
 * Records an event for a subscriber (created when a new email is given) and lets
 * it start and stop runs. The same idempotency key with the same data returns the
 * first call's event and runs; with different data it is refused.
 */
export async function trackEvent(actor: Caller, rawInput: unknown): Promise<TrackedEvent> {
  const [outcome] = await ingestEvents(actor, [rawInput], () => ['input']);
  if (!outcome!.ok) throw new UserErrors(outcome!.errors);
  return outcome!;
}

/** Records up to 1,000 events: one outcome per event, in input order. */
export async function trackEvents(actor: Caller, rawEvents: unknown[]): Promise<TrackEventOutcome[]> {
  if (rawEvents.length < 1 || rawEvents.length > MAX_EVENTS) {
    throw new UserError(`Give between 1 and ${MAX_EVENTS.toLocaleString('en-US')} events`, ['input', 'events'], 'VALIDATION');
  }
  return ingestEvents(actor, rawEvents, (i) => ['input', 'events', String(i)]);
}

interface Item {
  index: number;
  input: TrackEventInput;
  properties: Record<string, unknown>;
  field: string[];
  subscriberId?: string;
  /** Set when an earlier event (stored, or earlier in this batch) has the same idempotency key. */
  replayOf?: { eventId: string } | number;
}

async function ingestEvents(actor: Caller, rawEvents: unknown[], fieldOf: (index: number) => string[]): Promise<TrackEventOutcome[]> {
  const outcomes: (TrackEventOutcome | undefined)[] = rawEvents.map(() => undefined);
  const fail = (item: { index: number }, error: UserError) => {
    const earlier = outcomes[item.index];
    outcomes[item.index] = { ok: false, errors: [...(earlier && !earlier.ok ? earlier.errors : []), error] };
  };
  const parsed: Item[] = [];
  rawEvents.forEach((raw, index) => {
    const field = fieldOf(index);
    try {
      const input = parseInput(trackEventSchema, raw, field);
      parsed.push({ index, input, properties: input.properties ?? {}, field });
    } catch (error) {
      const errors = asUserErrors(error);
      if (!errors) throw error;
      outcomes[index] = { ok: false, errors };
    }
  });
  if (parsed.length) {
    const written = await transaction(actor.runtime, (tx) => record(tx, actor, parsed, fail), {
      timeout: 60_000,
      lean: true,
      // Its statements are then named (prepared) ones: see SendOptions.
      genericPlans: parsed.length <= PREPARED_ROWS,
    });
    for (const [index, outcome] of written) outcomes[index] ??= outcome;
  }
  return outcomes.map((o) => o!);
}

/** Writes the events that pass the checks; returns their outcomes by index. */
async function record(
  tx: Tx,
  actor: Caller,
  items: Item[],
  fail: (item: Item, error: UserError) => void,
): Promise<Map<number, TrackEventOutcome>> {
  const failed = new Set<number>();
  const reject = (item: Item, error: UserError) => {
    failed.add(item.index);
    fail(item, error);
  };
  const outcomes = new Map<number, TrackEventOutcome>();

  // 1. Idempotency keys: a key seen before (stored or earlier in the batch) replays
  // that event when the data is the same, and is refused otherwise.
  const keyed = items.filter((i) => i.input.idempotencyKey);
  if (keyed.length) {
    await advisoryLocks(tx, keyed.map((i) => ['event', actor.workspaceId, i.input.idempotencyKey!]));
    // The events of these keys with their subscriber and runs, in one statement around Prisma (txQuery).
    const stored = await txQuery<{
      id: string;
      subscriberId: string;
      name: string;
      properties: unknown;
      idempotencyKey: string;
      email: string;
      externalId: string | null;
      enrollmentIds: string[];
    }>(
      tx,
      Prisma.sql`
      SELECT e.id::text, e."subscriberId"::text AS "subscriberId", e.name, e.properties, e."idempotencyKey", s.email, s."externalId",
        -- A run's entry event is its subscriber's: found by the subscriber index (there is none on entryEventId).
        ARRAY(SELECT r.id::text FROM "Enrollment" r WHERE r."subscriberId" = e."subscriberId" AND r."entryEventId" = e.id ORDER BY r.id) AS "enrollmentIds"
      FROM "Event" e JOIN "Subscriber" s ON s.id = e."subscriberId"
      WHERE e."workspaceId" = ${actor.workspaceId}::uuid AND e."idempotencyKey" IS NOT NULL AND e."idempotencyKey" = ANY(${keyed.map((i) => i.input.idempotencyKey!)}::text[])`,
      { prepared: keyed.length <= PREPARED_ROWS },
    );
    const byKey = new Map(stored.map((e) => [e.idempotencyKey, e]));
    const firstInBatch = new Map<string, Item>();
    for (const item of keyed) {
      const key = item.input.idempotencyKey!;
      const earlier = byKey.get(key);
      const conflict = () =>
        reject(item, new UserError('This idempotencyKey was already used for a different event', [...item.field, 'idempotencyKey'], 'IDEMPOTENCY_CONFLICT'));
      if (earlier) {
        const sameSubscriber = item.input.subscriberId
          ? tryDecodeId('Subscriber', item.input.subscriberId) === earlier.subscriberId
          : item.input.externalId
            ? item.input.externalId === earlier.externalId
            : item.input.email === earlier.email;
        if (!sameSubscriber || earlier.name !== item.input.event || !isDeepStrictEqual(earlier.properties, item.properties)) conflict();
        else outcomes.set(item.index, { ok: true, eventId: earlier.id, enrollmentIds: earlier.enrollmentIds, skipped: [] });
        continue;
      }
      const first = firstInBatch.get(key);
      if (!first) {
        firstInBatch.set(key, item);
        continue;
      }
      const same =
        first.input.subscriberId == item.input.subscriberId &&
        first.input.email == item.input.email &&
        first.input.externalId == item.input.externalId &&
        first.input.event === item.input.event &&
        isDeepStrictEqual(first.properties, item.properties);
      if (same) item.replayOf = first.index;
      else conflict();
    }
  }
  const fresh = () => items.filter((i) => !failed.has(i.index) && !outcomes.has(i.index) && i.replayOf === undefined);

  // 2. Subscribers named by id or externalId must exist (or are created with their email).
  const created = await resolveSubscribers(tx, actor, fresh(), reject);

  // 3. The events, with the subscribers of new emails, in one statement.
  const toWrite = fresh();
  const at = actor.runtime.clock.now();
  const eventIds = uuidv7s(toWrite.length);
  const events = toWrite.map((item, n) => ({
    id: eventIds[n]!,
    item,
    occurredAt: item.input.occurredAt ?? at,
  }));
  let version: bigint | null = null;
  if (events.length) {
    const written = await writeEvents(tx, actor, events, at, likelyStarted(actor.workspaceId, toWrite));
    version = written.version;
    for (const id of written.created) created.add(id);
    // An email another transaction committed while this one waited on it was
    // neither inserted nor seen by the statement: its events are written now.
    const late = events.filter((e) => !e.item.subscriberId);
    if (late.length) {
      const emails = [...new Set(late.map((e) => e.item.input.email!))];
      const rows = await txQuery<{ id: string; email: string }>(
        tx,
        Prisma.sql`SELECT id::text, email FROM "Subscriber" WHERE "workspaceId" = ${actor.workspaceId}::uuid AND email = ANY(${emails}::text[])`,
      );
      const idOf = new Map(rows.map((r) => [r.email, r.id]));
      for (const e of late) e.item.subscriberId = idOf.get(e.item.input.email!);
      await writeEvents(tx, actor, late, at, []);
    }
  }

  // 4. Segments once for every subscriber of the batch; what each entered counts after its last event.
  const subscriberIds = [...new Set(events.map((e) => e.item.subscriberId!))];
  const definitions = events.length ? await workspaceDefinitions(tx, actor.workspaceId, version) : undefined;
  const entered = await reevaluateSegments(tx, actor.workspaceId, subscriberIds, at, definitions);
  const enteredBy = new Map<string, string[]>();
  for (const m of entered) {
    const list = enteredBy.get(m.subscriberId);
    if (list) list.push(m.segmentId);
    else enteredBy.set(m.subscriberId, [m.segmentId]);
  }
  const lastOf = new Map(events.map((e, n) => [e.item.subscriberId!, n]));
  const firstOf = new Map<string, number>();
  events.forEach((e, n) => {
    if (!firstOf.has(e.item.subscriberId!)) firstOf.set(e.item.subscriberId!, n);
  });

  // 5. Runs: stopped and started for every event at once.
  const changes = events.map((e, n): FactContext & { facts: Fact[] } => {
    const subscriberId = e.item.subscriberId!;
    const facts: Fact[] = [];
    if (created.has(subscriberId) && firstOf.get(subscriberId) === n) facts.push({ kind: 'subscriber_created' });
    facts.push({ kind: 'event', name: e.item.input.event });
    if (lastOf.get(subscriberId) === n) {
      for (const segmentId of enteredBy.get(subscriberId) ?? []) facts.push({ kind: 'segment_entered', segmentId });
    }
    return {
      workspaceId: actor.workspaceId,
      subscriberId,
      facts,
      event: { id: e.id, name: e.item.input.event, properties: e.item.properties, idempotencyKey: e.item.input.idempotencyKey ?? null, occurredAt: e.occurredAt },
    };
  });
  const applied = await applyFactsBatch(actor.runtime, tx, actor.workspaceId, changes, definitions);
  events.forEach((e, n) => {
    outcomes.set(e.item.index, { ok: true, eventId: e.id, enrollmentIds: [...applied[n]!.started].sort(), skipped: applied[n]!.skipped });
  });
  for (const item of items) {
    if (typeof item.replayOf === 'number') {
      const first = outcomes.get(item.replayOf);
      if (first?.ok) outcomes.set(item.index, first);
      else reject(item, new UserError('The event with the same idempotencyKey earlier in this call was not recorded', [...item.field, 'idempotencyKey'], 'IDEMPOTENCY_CONFLICT'));
    }
  }
  return outcomes;
}

/**
 * Sets `subscriberId` on the items naming a subscriber: by id, it must be of this
 * workspace (else NOT_FOUND at the item); by externalId, it is found, or created
 * with the email. Items by email alone are left to writeEvents. Returns the
 * subscribers created here.
 */
async function resolveSubscribers(tx: Tx, actor: Caller, items: Item[], reject: (item: Item, error: UserError) => void): Promise<Set<string>> {
  const byId = items.filter((i) => i.input.subscriberId);
  if (byId.length) {
    const uuids = byId.map((i) => tryDecodeId('Subscriber', i.input.subscriberId!));
    const rows = await txQuery<{ id: string }>(
      tx,
      Prisma.sql`SELECT id::text FROM "Subscriber" WHERE "workspaceId" = ${actor.workspaceId}::uuid AND id = ANY(${uuids.filter((u): u is string => u !== null)}::uuid[])`,
      { prepared: byId.length <= PREPARED_ROWS },
    );
    const found = new Set(rows.map((s) => s.id));
    byId.forEach((item, n) => {
      const uuid = uuids[n];
      if (uuid && found.has(uuid)) item.subscriberId = uuid;
      else reject(item, notFound('Subscriber', [...item.field, 'subscriberId']));
    });
  }
  const created = new Set<string>();
  const byExternal = items.filter((i) => !i.input.subscriberId && i.input.externalId);
  if (byExternal.length) {
    // The caller's id names the person. Unknown with an email: created with both
    // (or an existing email without one takes it), serialised per externalId.
    await advisoryLocks(tx, byExternal.map((i) => ['external-id', actor.workspaceId, i.input.externalId!]));
    const rows = await txQuery<{ id: string; externalId: string }>(
      tx,
      Prisma.sql`SELECT id::text, "externalId" FROM "Subscriber"
        WHERE "workspaceId" = ${actor.workspaceId}::uuid AND "externalId" = ANY(${byExternal.map((i) => i.input.externalId!)}::text[])`,
      { prepared: byExternal.length <= PREPARED_ROWS },
    );
    const idOf = new Map(rows.map((r) => [r.externalId, r.id]));
    const at = actor.runtime.clock.now();
    for (const item of byExternal) {
      const externalId = item.input.externalId!;
      const known = idOf.get(externalId);
      if (known) {
        item.subscriberId = known;
        continue;
      }
      if (!item.input.email) {
        reject(item, new UserError(`No subscriber has the externalId ${externalId}; give an email to create one`, [...item.field, 'externalId'], 'NOT_FOUND'));
        continue;
      }
      const [row] = await tx.$queryRaw<{ id: string; externalId: string | null; inserted: boolean }[]>`
        INSERT INTO "Subscriber" (id, "workspaceId", email, "externalId", attributes, "createdAt", "updatedAt")
        VALUES (${uuidv7(Date.now())}::uuid, ${actor.workspaceId}::uuid, ${item.input.email}, ${externalId}, '{}'::jsonb, ${at}, now())
        ON CONFLICT ("workspaceId", email) DO UPDATE SET "externalId" = COALESCE("Subscriber"."externalId", EXCLUDED."externalId")
        RETURNING id::text, "externalId", (xmax = 0) AS inserted`;
      if (row!.externalId !== externalId) {
        reject(item, new UserError(`${item.input.email} belongs to a subscriber with another externalId`, [...item.field, 'externalId'], 'EXTERNAL_ID_CONFLICT'));
        continue;
      }
      if (row!.inserted) created.add(row!.id);
      idOf.set(externalId, row!.id);
      item.subscriberId = row!.id;
    }
  }
  return created;
}

/**
 * The sequences these events' names will likely start, by the cached definitions
 * (checked against the version only later): their version is read, under the
 * key-share lock starting a run takes, in the events' statement (start-run.ts).
 */
function likelyStarted(workspaceId: string, items: Item[]): string[] {
  const active = cachedDefinitions(workspaceId)?.active ?? [];
  const names = new Set(items.map((i) => i.input.event));
  return active
    .filter((s) => (s.triggerType === 'EVENT_RECEIVED' || s.triggerType === 'FREQUENCY') && names.has(s.triggerEventName ?? ''))
    .map((s) => s.id);
}

/**
 * Inserts the events (each with its subscriber's id, or its email), creates the
 * subscribers of new emails (in email order, so that concurrent batches cannot
 * deadlock on them; their lastEventAt set as they are created) and raises the
 * others' lastEventAt, in one statement that also reads the version of the
 * workspace's definitions (engine/definitions.ts) and locks the sequences of
 * `lock` as starting runs does, keeping their versions. Sets each email item's
 * subscriberId, but not where another transaction committed the email while this
 * statement waited on it: its snapshot cannot see that row, and those events
 * are not written. Returns the subscribers it created.
 */
async function writeEvents(
  tx: Tx,
  actor: Caller,
  events: { id: string; item: Item; occurredAt: Date }[],
  at: Date,
  lock: string[],
): Promise<{ version: bigint | null; created: string[] }> {
  const lastAt = new Map<string, Date>();
  for (const e of events) {
    if (e.item.subscriberId) continue;
    const email = e.item.input.email!;
    const last = lastAt.get(email);
    if (!last || e.occurredAt > last) lastAt.set(email, e.occurredAt);
  }
  const emails = [...lastAt.keys()].sort();
  const ids = uuidv7s(emails.length);
  const ws = actor.workspaceId;
  const rows = await txQuery<{ version: bigint | null; locked: Record<string, number> | null; id: string | null; email: string | null; created: boolean | null }>(
    tx,
    Prisma.sql`
    WITH ${lock.length ? Prisma.sql`locked AS (${liveVersionsSql(lock)}),` : Prisma.empty} fresh AS (
      INSERT INTO "Subscriber" (id, "workspaceId", email, attributes, "lastEventAt", "createdAt", "updatedAt")
      SELECT s.id, ${ws}::uuid, s.email, '{}'::jsonb, s.last_at, ${at}, now()
      FROM unnest(${ids}::uuid[], ${emails}::text[], ${emails.map((e) => lastAt.get(e)!)}::timestamp(3)[]) WITH ORDINALITY AS s(id, email, last_at, n)
      ORDER BY s.n
      ON CONFLICT ("workspaceId", email) DO NOTHING
      RETURNING id, email
    ), subscribers AS (
      SELECT id, email, true AS created FROM fresh
      UNION ALL
      SELECT id, email, false FROM "Subscriber" WHERE "workspaceId" = ${ws}::uuid AND email = ANY(${emails}::text[])
    ), inserted AS (
      INSERT INTO "Event" (id, "workspaceId", "subscriberId", name, properties, "idempotencyKey", "occurredAt")
      SELECT e.id, ${ws}::uuid, COALESCE(e.subscriber, s.id), e.name, e.properties, e.key, e.at
      FROM unnest(${events.map((e) => e.id)}::uuid[], ${events.map((e) => e.item.subscriberId ?? null)}::uuid[],
        ${events.map((e) => (e.item.subscriberId ? null : e.item.input.email!))}::text[], ${events.map((e) => e.item.input.event)}::text[],
        ${events.map((e) => JSON.stringify(e.item.properties))}::jsonb[], ${events.map((e) => e.item.input.idempotencyKey ?? null)}::text[],
        ${events.map((e) => e.occurredAt)}::timestamp(3)[]) AS e(id, subscriber, email, name, properties, key, at)
      LEFT JOIN subscribers s ON s.email = e.email
      WHERE COALESCE(e.subscriber, s.id) IS NOT NULL
      RETURNING "subscriberId", "occurredAt"
    ), touched AS (
      -- Rows created above are not in this statement's snapshot: only the others are raised here.
      UPDATE "Subscriber" s SET "lastEventAt" = GREATEST(s."lastEventAt", l.at)
      FROM (SELECT "subscriberId" AS sub, max("occurredAt") AS at FROM inserted GROUP BY 1) l
      WHERE s.id = l.sub
      RETURNING 1
    )
    SELECT v.version, v.locked, s.id::text AS id, s.email, s.created
    FROM (
      SELECT "definitionsVersion" AS version,
        ${lock.length ? Prisma.sql`(SELECT json_object_agg(id, version) FROM locked)` : Prisma.sql`NULL::json`} AS locked
      FROM "Workspace" WHERE id = ${ws}::uuid
    ) v LEFT JOIN subscribers s ON true`,
    { prepared: events.length <= PREPARED_ROWS },
  );
  keepLiveVersions(tx, Object.entries(rows[0]?.locked ?? {}).map(([id, version]) => ({ id, version })));
  const idOf = new Map(rows.filter((r) => r.email !== null).map((r) => [r.email!, r.id!]));
  for (const e of events) if (!e.item.subscriberId) e.item.subscriberId = idOf.get(e.item.input.email!);
  return { version: rows[0]?.version ?? null, created: rows.filter((r) => r.created).map((r) => r.id!) };
}
