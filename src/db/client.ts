import { PrismaPg } from '@prisma/adapter-pg';
import { PrismaClient } from '../generated/prisma/client.js';

export type Db = PrismaClient;
/** The interactive-transaction client, for code that must run inside one. */
export type Tx = Parameters<Parameters<PrismaClient['$transaction']>[0]>[0];

export function createPrismaClient(connectionString: string, options: { max?: number } = {}): PrismaClient {
  return new PrismaClient({ adapter: new PrismaPg({ connectionString, max: options.max ?? 10 }) });
}

let current: PrismaClient | undefined;

/** The process's one Prisma client, set at startup by connectDb. */
export function db(): PrismaClient {
  if (!current) throw new Error('database not connected: call connectDb first');
  return current;
}

export function connectDb(connectionString: string): PrismaClient {
  current = createPrismaClient(connectionString);
  return current;
}

export async function disconnectDb(): Promise<void> {
  const client = current;
  current = undefined;
  await client?.$disconnect();
}
