// The benchmark's summary judges each figure against its target: a ratio to the
// ceiling measured in the same run, or an absolute bound.
import { describe, expect, it } from 'vitest';
import { met, type Ceiling } from '../../bench/report.js';

const http: Ceiling = { name: 'bare yoga+pg', value: 1_000, unit: 'runs/s' };

describe('bench figures against their targets', () => {
  it('a ratio target compares with the ceiling of the same run', () => {
    expect(met({ name: 'trackEvent', value: 500, unit: 'runs/s', ceiling: http, target: { ratio: 0.5 } })).toBe(true);
    expect(met({ name: 'trackEvent', value: 499, unit: 'runs/s', ceiling: http, target: { ratio: 0.5 } })).toBe(false);
  });

  it('absolute bounds: at least `min`, under `max`', () => {
    expect(met({ name: 'pixel', value: 2_000, unit: 'req/s', target: { min: 2_000 } })).toBe(true);
    expect(met({ name: 'pixel', value: 1_999, unit: 'req/s', target: { min: 2_000 } })).toBe(false);
    expect(met({ name: 'lag', value: 999, unit: 'ms', target: { max: 1_000 } })).toBe(true);
    expect(met({ name: 'lag', value: 1_000, unit: 'ms', target: { max: 1_000 } })).toBe(false);
  });

  it('no verdict without a value, a target, or (for a ratio) a ceiling', () => {
    expect(met({ name: 'trackEvents', unit: 'runs/s', na: 'n/a (mutation not available)', target: { min: 10_000 } })).toBeUndefined();
    expect(met({ name: 'p50', value: 12, unit: 'ms' })).toBeUndefined();
    expect(met({ name: 'ratio', value: 12, unit: 'runs/s', target: { ratio: 0.5 } })).toBeUndefined();
    expect(met({ name: 'lag', value: Number.NaN, unit: 'ms', target: { max: 1_000 } })).toBeUndefined();
  });
});
