// Postgres cannot store U+0000 in text or jsonb. A string holding it, in the
// document or the variables, is refused up front as bad input, instead of
// reaching the database and failing there as an unexpected error.
import { visit, type DocumentNode } from 'graphql';
import { createGraphQLError, type Plugin } from 'graphql-yoga';

function valueHasNul(value: unknown, depth = 0): boolean {
  if (typeof value === 'string') return value.includes('\u0000');
  if (depth > 64 || typeof value !== 'object' || value === null) return false;
  if (Array.isArray(value)) return value.some((v) => valueHasNul(v, depth + 1));
  return Object.entries(value).some(([k, v]) => k.includes('\u0000') || valueHasNul(v, depth + 1));
}

// Parsed documents are cached and shared by Yoga: each is walked once.
const checked = new WeakMap<DocumentNode, boolean>();

function documentHasNul(document: DocumentNode): boolean {
  let known = checked.get(document);
  if (known === undefined) {
    known = walkForNul(document);
    checked.set(document, known);
  }
  return known;
}

function walkForNul(document: DocumentNode): boolean {
  let found = false;
  visit(document, {
    StringValue(node) {
      if (node.value.includes('\u0000')) found = true;
    },
  });
  return found;
}

const refusal = () => ({
  errors: [
    createGraphQLError('Strings may not contain the NUL character (\\u0000)', { extensions: { code: 'BAD_USER_INPUT' } }),
  ],
});

export function useNoNulCharacters(): Plugin {
  const check = (args: { document: DocumentNode; variableValues?: unknown }) =>
    valueHasNul(args.variableValues) || documentHasNul(args.document);
  return {
    onExecute({ args, setResultAndStopExecution }) {
      if (check(args)) setResultAndStopExecution(refusal());
    },
    onSubscribe({ args, setResultAndStopExecution }) {
      if (check(args)) setResultAndStopExecution(refusal());
    },
  };
}
