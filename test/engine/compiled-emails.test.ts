// A sequence going live stores its emails compiled (the CompiledEmail table), and a
// worker that never compiled them — a process of its own — fills the stored
// templates without MJML, giving what the per-email renderer gives.
import { expect, it } from 'vitest';
import type { MergeTagContext } from '../../src/domain/merge-tags.js';
import { clearCompiledSteps, compiledEmailStats } from '../../src/mail/compiled-email.js';
import { renderTrackedStepOnce } from '../../src/mail/tracked-email.js';
import { useTestEngine } from '../helpers/engine.js';
import { engineApi } from './support.js';

const t = await useTestEngine();

it('stores a live sequence’s emails compiled, and a worker fills them without compiling', { timeout: 60_000 }, async () => {
  const ws = await t.workspace();
  const api = engineApi(t, ws);
  const blocks = [
    { type: 'heading', text: 'Hello {{subscriber.firstName|there}}' },
    { type: 'text', text: 'Plan: <b>{{event.plan}}</b>' },
    { type: 'button', text: 'Open', url: 'https://example.com/open?plan={{event.plan}}' },
  ];
  await api.sequence({ name: 'Stored', trigger: 'EVENT_RECEIVED', eventName: 'stored.go', steps: [{ subject: 'Hi {{subscriber.email}}', blocks }] });
  const step = await t.prisma.step.findFirstOrThrow({ where: { sequence: { workspaceId: ws.workspaceId }, type: 'EMAIL' } });
  expect(await t.prisma.compiledEmail.count({ where: { stepId: step.id } })).toBe(1);

  // As in a worker process of its own: nothing compiled in memory.
  clearCompiledSteps();
  await api.track({ email: 'ada@stored.test', event: 'stored.go', properties: { plan: 'pro' } });
  const message = await t.until(() => t.prisma.message.findFirst({ where: { workspaceId: ws.workspaceId, status: 'SENT' } }));
  expect(compiledEmailStats().compiles).toBe(0);

  const run = await t.prisma.enrollment.findFirstOrThrow({ where: { id: message.enrollmentId! }, include: { subscriber: true } });
  const context: MergeTagContext = {
    subscriber: { email: run.subscriber.email, firstName: run.subscriber.firstName, lastName: run.subscriber.lastName, attributes: {} },
    event: run.entryEvent as Record<string, unknown>,
    discount: null,
  };
  const once = await renderTrackedStepOnce(step, { context, transactional: false, workspaceId: ws.workspaceId, messageId: message.id, keys: await t.runtime.tracking.keys() });
  expect({ subject: message.subject, html: message.html, text: message.text }).toEqual({ subject: once.subject, html: once.html, text: once.text });
  expect(message.html).toContain('Plan: <b>pro</b>');
});
