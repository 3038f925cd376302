// Public IDs are a type prefix plus the row's UUID without dashes
// (seq_0190f5c2...); they resolve through Query.node and are refused when they
// name another type.
import { UserError } from './errors.js';

export const ID_PREFIXES = {
  Sequence: 'seq',
  Step: 'stp',
  Subscriber: 'sub',
  Enrollment: 'enr',
  Event: 'evt',
  List: 'lst',
  Segment: 'seg',
  Message: 'msg',
  Discount: 'dsc',
  ApiKey: 'key',
  Workspace: 'wsp',
} as const;

export type IdType = keyof typeof ID_PREFIXES;

const TYPE_BY_PREFIX = new Map<string, IdType>(Object.entries(ID_PREFIXES).map(([type, prefix]) => [prefix, type as IdType]));
const UUID_HEX = /^[0-9a-f]{32}$/;

export function encodeId(type: string, uuid: string | number | bigint): string {
  const prefix = ID_PREFIXES[type as IdType];
  if (!prefix) throw new Error(`no ID prefix for type ${type}`);
  return `${prefix}_${String(uuid).replace(/-/g, '')}`;
}

/** Parses any public ID; null when it is not one. */
export function parseId(id: string): { type: IdType; uuid: string } | null {
  const sep = id.indexOf('_');
  const type = TYPE_BY_PREFIX.get(id.slice(0, sep));
  const hex = id.slice(sep + 1).toLowerCase();
  if (sep < 0 || !type || !UUID_HEX.test(hex)) return null;
  return {
    type,
    uuid: `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`,
  };
}

/** The row UUID of an ID that must name `type`; a UserError at `field` otherwise. */
export function decodeId(type: IdType, id: string, field: string[]): string {
  const parsed = parseId(id);
  if (!parsed || parsed.type !== type) {
    throw new UserError(`${JSON.stringify(id)} is not a valid ${type} ID (${ID_PREFIXES[type]}_...)`, field, 'INVALID_ID');
  }
  return parsed.uuid;
}

/** Like decodeId, but an ID of another type or a malformed one simply matches nothing. */
export function tryDecodeId(type: IdType, id: string): string | null {
  const parsed = parseId(id);
  return parsed && parsed.type === type ? parsed.uuid : null;
}

/** For Query.node: an unknown or malformed ID is a clear GraphQL error. */
export function decodeNodeId(id: string): { typename: string; id: string } {
  const parsed = parseId(id);
  if (!parsed) throw new UserError(`${JSON.stringify(id)} is not a valid ID`, ['id'], 'INVALID_ID');
  return { typename: parsed.type, id: parsed.uuid };
}
