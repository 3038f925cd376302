import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildSchema, isObjectType, isInputObjectType, isEnumType, isInterfaceType, type GraphQLNamedType } from 'graphql';
import { describe, expect, it } from 'vitest';
import { printedSchema, schemaFile } from '../../src/graphql/print-schema.js';

describe('schema/schema.graphql', () => {
  it('is current (run `npm run schema` after changing the GraphQL types)', () => {
    expect(readFileSync(schemaFile, 'utf8')).toBe(printedSchema());
  });
});

/**
 * Every type, field, argument and enum value of the contract exists, with the same named types.
 * The contract is the repository's copy (test/contract/README.md says where it comes from).
 */
describe('the API contract', () => {
  const contract = buildSchema(readFileSync(join(import.meta.dirname, '../contract/contract.graphql'), 'utf8'));
  const ours = buildSchema(printedSchema());
  const types = Object.values(contract.getTypeMap()).filter((t) => !t.name.startsWith('__'));

  it.each(types.map((t) => [t.name, t] as [string, GraphQLNamedType]))('%s is in the schema', (name, type) => {
    const mine = ours.getType(name);
    expect(mine, `type ${name}`).toBeDefined();
    if (isEnumType(type)) {
      expect(isEnumType(mine)).toBe(true);
      const values = (mine as typeof type).getValues().map((v) => v.name);
      for (const v of type.getValues()) expect(values).toContain(v.name);
    }
    if (isObjectType(type) || isInterfaceType(type) || isInputObjectType(type)) {
      const myFields = (mine as typeof type).getFields() as Record<string, any>;
      for (const [fieldName, field] of Object.entries(type.getFields() as Record<string, any>)) {
        const m = myFields[fieldName];
        expect(m, `${name}.${fieldName}`).toBeDefined();
        // Same named type; nullability may be stricter in ours.
        expect(String(m.type).replace(/!/g, ''), `${name}.${fieldName}`).toBe(String(field.type).replace(/!/g, ''));
        for (const arg of field.args ?? []) {
          const mineArg = m.args.find((a: any) => a.name === arg.name);
          expect(mineArg, `${name}.${fieldName}(${arg.name})`).toBeDefined();
          expect(String(mineArg.type).replace(/!/g, '')).toBe(String(arg.type).replace(/!/g, ''));
        }
      }
    }
  });
});
