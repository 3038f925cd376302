// Imports every type family (each registers itself on the builder), then builds.
import { builder } from './builder.js';
import './types/enums.js';
import './types/user-error.js';
import './types/step.js';
import './types/sequence.js';
import './types/sequence-version.js';
import './types/enrollment.js';
import './types/enrollment-page.js';
import './types/message.js';
import './types/subscriber.js';
import './types/list.js';
import './types/segment.js';
import './types/event.js';
import './types/run-mutations.js';
import './types/cancellation.js';
import './types/enrollment-change.js';
import './types/integration.js';
import './types/preview.js';
import './types/tracking.js';
import './types/test-mode.js';
import './types/simulate.js';
import './types/test-clock.js';

export const schema = builder.toSchema();
