// The base URL and signing key of tracking links. From STEPWISE_SECRET when set;
// otherwise from a random secret generated once per installation and kept in the
// Setting table, so links in sent email keep working across restarts.
import { randomBytes } from 'node:crypto';
import { db } from '../db/client.js';
import { deriveTrackingKey, type TrackingKeys } from '../domain/tracking-links.js';

const SECRET_SETTING = 'tracking-link-secret';

let settings: { publicUrl: string; secret?: string } = { publicUrl: 'http://localhost:4000' };
let keys: Promise<TrackingKeys> | undefined;

/** PUBLIC_URL and STEPWISE_SECRET (src/config.ts), set once at startup. */
export function configureTracking(next: { publicUrl: string; secret?: string }): void {
  settings = next;
  keys = undefined;
}

export function trackingKeys(): Promise<TrackingKeys> {
  keys ??= loadKeys().catch((error: unknown) => {
    keys = undefined;
    throw error;
  });
  return keys;
}

async function loadKeys(): Promise<TrackingKeys> {
  const baseUrl = settings.publicUrl.replace(/\/+$/, '');
  if (settings.secret) return { baseUrl, key: deriveTrackingKey(settings.secret) };
  const generated = randomBytes(32).toString('base64url');
  await db().$executeRaw`INSERT INTO "Setting" (key, value) VALUES (${SECRET_SETTING}, ${generated}) ON CONFLICT (key) DO NOTHING`;
  const row = await db().setting.findUniqueOrThrow({ where: { key: SECRET_SETTING } });
  return { baseUrl, key: deriveTrackingKey(row.value) };
}
