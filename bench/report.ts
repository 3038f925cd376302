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
