// The base URL and signing key of tracking links. From STEPWISE_SECRET when set;
// otherwise from a random secret generated once per installation and kept in the
// Setting table, so links in sent email keep working across restarts. One per
// runtime (src/runtime.ts); tests point a runtime's at their server's port.
import { randomBytes } from 'node:crypto';
import { deriveTrackingKey, type TrackingKeys } from '../domain/tracking-links.js';
import type { PrismaClient } from '../generated/prisma/client.js';

const SECRET_SETTING = 'tracking-link-secret';

export interface TrackingSettings {
  /** PUBLIC_URL: where links point. */
  publicUrl: string;
  /** STEPWISE_SECRET, when set. */
  secret?: string;
}

export class TrackingLinks {
  private keysLoaded: Promise<TrackingKeys> | undefined;

  constructor(
    private readonly db: PrismaClient,
    private settings: TrackingSettings = { publicUrl: 'http://localhost:4000' },
  ) {}

  configure(next: TrackingSettings): void {
    this.settings = next;
    this.keysLoaded = undefined;
  }

  keys(): Promise<TrackingKeys> {
    this.keysLoaded ??= this.load().catch((error: unknown) => {
      this.keysLoaded = undefined;
      throw error;
    });
    return this.keysLoaded;
  }

  private async load(): Promise<TrackingKeys> {
    const baseUrl = this.settings.publicUrl.replace(/\/+$/, '');
    if (this.settings.secret) return { baseUrl, key: deriveTrackingKey(this.settings.secret) };
    const generated = randomBytes(32).toString('base64url');
    await this.db.$executeRaw`INSERT INTO "Setting" (key, value) VALUES (${SECRET_SETTING}, ${generated}) ON CONFLICT (key) DO NOTHING`;
    const row = await this.db.setting.findUniqueOrThrow({ where: { key: SECRET_SETTING } });
    return { baseUrl, key: deriveTrackingKey(row.value) };
  }
}
