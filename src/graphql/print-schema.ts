// `npm run schema`: writes the sorted SDL to schema/schema.graphql (a test
// fails when the checked-in file is stale).
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { lexicographicSortSchema, printSchema } from 'graphql';
import { schema } from './schema.js';

export const schemaFile = join(dirname(fileURLToPath(import.meta.url)), '../../schema/schema.graphql');

export function printedSchema(): string {
  return `${printSchema(lexicographicSortSchema(schema))}\n`;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  mkdirSync(dirname(schemaFile), { recursive: true });
  writeFileSync(schemaFile, printedSchema());
  console.log(`wrote ${schemaFile}`);
}
