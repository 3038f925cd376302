import { previewSequence, type PreviewedStep } from '../../services/preview.js';
import { builder } from '../builder.js';
import { StepRef } from './step.js';

const PreviewStepRef = builder.objectRef<PreviewedStep>('PreviewStep').implement({
  fields: (t) => ({
    step: t.field({ type: StepRef, resolve: (p) => p.step }),
    dueAfterSeconds: t.exposeInt('dueAfterSeconds', {
      description: "From the start of the run; DATE sequences: from the run's date (negative: before it)",
    }),
    dueAt: t.expose('dueAt', {
      type: 'DateTime',
      nullable: true,
      description: "With startAt given (DATE sequences: with the date in properties or the subscriber's attributes), send window applied",
    }),
    subject: t.exposeString('subject', { nullable: true }),
    previewText: t.exposeString('previewText', { nullable: true }),
    html: t.exposeString('html', { nullable: true }),
    text: t.exposeString('text', { nullable: true }),
  }),
});

builder.queryFields((t) => ({
  previewSequence: t.field({
    type: [PreviewStepRef],
    description: 'What each step would send to this subscriber, without sending or writing.',
    args: {
      sequenceId: t.arg.id({ required: true }),
      subscriberId: t.arg.id(),
      email: t.arg.string(),
      properties: t.arg({ type: 'JSON' }),
      startAt: t.arg({ type: 'DateTime' }),
    },
    resolve: (_root, args, ctx) => previewSequence(ctx, args),
  }),
}));
