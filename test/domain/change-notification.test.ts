import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { MAX_NOTIFIED_SUBSCRIBERS, changePayload, mergePayloads, parseChangePayload, payloadTopic } from '../../src/domain/change-notification.js';

describe('change notification payloads', () => {
  const workspace = randomUUID();
  const [a, b] = [randomUUID(), randomUUID()];

  it('name the workspace and each subscriber whose runs changed, once', () => {
    expect(parseChangePayload(changePayload(workspace, [a, b, a]))).toEqual({ topic: workspace, subscribers: [a, b] });
  });

  it('say "stats only" with an empty list', () => {
    expect(parseChangePayload(changePayload(workspace, []))).toEqual({ topic: workspace, subscribers: [] });
  });

  it('fall back to the bare workspace (anything may have changed) past the limit, within NOTIFY’s 8,000 bytes', () => {
    const many = Array.from({ length: MAX_NOTIFIED_SUBSCRIBERS }, () => randomUUID());
    expect(Buffer.byteLength(changePayload(workspace, many))).toBeLessThan(8000);
    expect(parseChangePayload(changePayload(workspace, many)).subscribers).toEqual(many);
    expect(changePayload(workspace, [...many, a])).toBe(workspace);
  });

  it('read a bare topic (an older process, a bulk write, a test clock) as "anything may have changed"', () => {
    expect(parseChangePayload(workspace)).toEqual({ topic: workspace, subscribers: null });
    expect(parseChangePayload(`testclock:${workspace}`)).toEqual({ topic: `testclock:${workspace}`, subscribers: null });
  });

  it('merge by topic: the subscribers of both, or the bare topic when either is bare or they are too many', () => {
    const c = randomUUID();
    expect(parseChangePayload(mergePayloads(changePayload(workspace, [a, b]), changePayload(workspace, [b, c])))).toEqual({ topic: workspace, subscribers: [a, b, c] });
    expect(mergePayloads(changePayload(workspace, [a]), changePayload(workspace, []))).toBe(changePayload(workspace, [a]));
    expect(mergePayloads(changePayload(workspace, [a]), workspace)).toBe(workspace);
    expect(mergePayloads(workspace, changePayload(workspace, []))).toBe(workspace);
    const many = Array.from({ length: MAX_NOTIFIED_SUBSCRIBERS }, () => randomUUID());
    expect(mergePayloads(changePayload(workspace, many), changePayload(workspace, [a]))).toBe(workspace);
    expect([changePayload(workspace, [a]), workspace, `testclock:${workspace}`].map(payloadTopic)).toEqual([workspace, workspace, `testclock:${workspace}`]);
  });
});
