// Printing: each benchmark's own table of details, and the final table where
// every figure stands beside its ceiling (measured in the same run) and target.

/** One benchmark's figures: a measure and its value. */
export interface Row {
  measure: string;
  value: string;
}

export function printTable(title: string, rows: Row[]): void {
  const width = Math.max(...rows.map((r) => r.measure.length), 10);
  console.log(`\n${title}`);
  console.log(`${'measure'.padEnd(width)}  value`);
  console.log(`${'-'.repeat(width)}  ${'-'.repeat(24)}`);
  for (const row of rows) console.log(`${row.measure.padEnd(width)}  ${row.value}`);
}

/** A ceiling: what the bare machinery does on this machine in this run. */
export interface Ceiling {
  name: string;
  value: number;
  unit: string;
}

/**
 * A figure for the final table. `target` is either a ratio to the ceiling
 * (`{ ratio: 0.5 }`: value ≥ 0.5 × ceiling) or an absolute bound (`min`/`max`).
 * `na` replaces the value when the figure could not be measured (and why).
 */
export interface Figure {
  name: string;
  value?: number;
  unit: string;
  ceiling?: Ceiling;
  target?: { ratio?: number; min?: number; max?: number };
  na?: string;
  note?: string;
}

const num = (v: number) =>
  Number.isInteger(v) || v >= 100 ? Math.round(v).toLocaleString('en') : v >= 10 ? v.toFixed(1) : v.toFixed(2);

export function met(figure: Figure): boolean | undefined {
  const { value, target, ceiling } = figure;
  if (value === undefined || !Number.isFinite(value) || !target) return undefined;
  if (target.ratio !== undefined) return ceiling ? value >= target.ratio * ceiling.value : undefined;
  if (target.min !== undefined) return value >= target.min;
  if (target.max !== undefined) return value < target.max;
  return undefined;
}

export function printFigures(title: string, figures: Figure[]): void {
  const header = ['figure', 'value', 'ceiling', 'ratio', 'target', 'met?'];
  const rows = figures.map((f) => {
    const value = f.na ?? (f.value === undefined || !Number.isFinite(f.value) ? 'n/a' : `${num(f.value)} ${f.unit}`);
    const ceiling = f.ceiling ? `${num(f.ceiling.value)} ${f.ceiling.unit} (${f.ceiling.name})` : '—';
    const ratio = f.ceiling && f.value !== undefined && !f.na && Number.isFinite(f.value) ? `${(f.value / f.ceiling.value).toFixed(2)}×` : '—';
    const target = !f.target
      ? '—'
      : f.target.ratio !== undefined
        ? `≥ ${f.target.ratio}× ceiling`
        : f.target.min !== undefined
          ? `≥ ${num(f.target.min)} ${f.unit}`
          : `< ${num(f.target.max!)} ${f.unit}`;
    const ok = f.na ? '—' : ({ true: 'yes', false: 'NO', undefined: '—' } as const)[String(met(f)) as 'true' | 'false' | 'undefined'];
    return [f.name + (f.note ? ` (${f.note})` : ''), value, ceiling, ratio, target, ok];
  });
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
  console.log(`\n${title}`);
  console.log(line(header));
  console.log(line(widths.map((w) => '-'.repeat(w))));
  for (const row of rows) console.log(line(row));
}
