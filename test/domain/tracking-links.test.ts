import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { trackingUrl, verifyTrackingPath, type TrackingKeys } from '../../src/domain/tracking-links.js';

const keys: TrackingKeys = { baseUrl: 'https://mail.example.com', key: Buffer.alloc(32, 3) };
const A = '0196b4a0-0000-7000-8000-00000000000a';
const B = '0196b4a0-0000-7000-8000-00000000000b';
const MESSAGE = '0196b4a0-1111-7000-8000-000000000001';
const path = (url: string) => url.slice(keys.baseUrl.length);

describe('tracking links', () => {
  it('name their workspace and verify to it', () => {
    const click = trackingUrl(keys, { kind: 'click', workspaceId: A, messageId: MESSAGE, url: 'https://example.com/x?a=1' });
    expect(click).toMatch(/^https:\/\/mail\.example\.com\/t\/c\/0196b4a000007000800000000000000a\/[0-9a-f]{32}\/[A-Za-z0-9_-]{22}\?u=/);
    expect(verifyTrackingPath(keys.key, path(click))).toEqual({ kind: 'click', workspaceId: A, messageId: MESSAGE, url: 'https://example.com/x?a=1' });
    const open = trackingUrl(keys, { kind: 'open', workspaceId: A, messageId: MESSAGE });
    expect(verifyTrackingPath(keys.key, path(open))).toEqual({ kind: 'open', workspaceId: A, messageId: MESSAGE });
  });

  it('cannot be moved to another workspace: the signature covers it', () => {
    const open = path(trackingUrl(keys, { kind: 'open', workspaceId: A, messageId: MESSAGE }));
    const moved = open.replace(A.replaceAll('-', ''), B.replaceAll('-', ''));
    expect(moved).not.toBe(open);
    expect(verifyTrackingPath(keys.key, moved)).toBeNull();
    // Nor can the workspace be dropped to make it a link of the older form.
    expect(verifyTrackingPath(keys.key, open.replace(`/${A.replaceAll('-', '')}`, ''))).toBeNull();
  });

  it('still verifies links of the older form (no workspace), for the message they were signed for', () => {
    const id = MESSAGE.replaceAll('-', '');
    const signature = createHmac('sha256', keys.key).update(`unsubscribe\n${id}\n`).digest().subarray(0, 16).toString('base64url');
    expect(verifyTrackingPath(keys.key, `/t/u/${id}/${signature}`)).toEqual({ kind: 'unsubscribe', messageId: MESSAGE });
    expect(verifyTrackingPath(keys.key, `/t/o/${id}/${signature}.gif`)).toBeNull();
  });
});
