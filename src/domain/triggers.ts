// What starts and what stops runs: pure matching of audience facts against a
// sequence's trigger and stop condition.
import { tryDecodeId } from './public-id.js';

/** Something that happened to one subscriber. List IDs are row IDs. */
export type Fact =
  | { kind: 'subscriber_created' }
  | { kind: 'list_added'; listId: string }
  | { kind: 'list_removed'; listId: string }
  | { kind: 'tag_added'; tag: string }
  | { kind: 'tag_removed'; tag: string }
  | { kind: 'segment_entered'; segmentId: string }
  | { kind: 'event'; name: string };

export interface TriggerDefinition {
  triggerType: string;
  triggerListId: string | null;
  triggerTagName: string | null;
  triggerSegmentId: string | null;
  triggerEventName: string | null;
  triggerMinCount: number | null;
  triggerTimeWindowDays: number | null;
}

/**
 * Whether `fact` starts a run of a sequence with this trigger. FREQUENCY also
 * needs the subscriber's count of that event within the window, including this
 * one: it fires when the count reaches minCount, not while it stays above.
 */
export function triggerFires(trigger: TriggerDefinition, fact: Fact, countInWindow?: number): boolean {
  switch (trigger.triggerType) {
    case 'CONTACT_ADDED':
      return trigger.triggerListId === null
        ? fact.kind === 'subscriber_created'
        : fact.kind === 'list_added' && fact.listId === trigger.triggerListId;
    case 'TAG_ADDED':
      return fact.kind === 'tag_added' && fact.tag === trigger.triggerTagName;
    case 'SEGMENT_ENTERED':
      return fact.kind === 'segment_entered' && fact.segmentId === trigger.triggerSegmentId;
    case 'EVENT_RECEIVED':
      return fact.kind === 'event' && fact.name === trigger.triggerEventName;
    case 'FREQUENCY':
      return fact.kind === 'event' && fact.name === trigger.triggerEventName && countInWindow === trigger.triggerMinCount;
    default:
      // INACTIVITY is found by a sweep, MANUAL only by enrollSubscriber.
      return false;
  }
}

/** Stop condition values name a tag, an event, or a list (by row ID here). */
export function stopConditionMet(type: string, value: string | null, fact: Fact): boolean {
  switch (type) {
    case 'HAS_TAG':
      return fact.kind === 'tag_added' && fact.tag === value;
    case 'DOES_NOT_HAVE_TAG':
      return fact.kind === 'tag_removed' && fact.tag === value;
    case 'EVENT_RECEIVED':
      return fact.kind === 'event' && fact.name === value;
    case 'ADDED_TO_LIST':
      return fact.kind === 'list_added' && fact.listId === value;
    case 'REMOVED_FROM_LIST':
      return fact.kind === 'list_removed' && fact.listId === value;
    default:
      return false;
  }
}

/** A stop condition's value as facts name it: list conditions name the list by its public ID, facts by row ID. */
export function stopConditionValue(type: string, value: string | null): string | null {
  return type.endsWith('_LIST') && value ? (tryDecodeId('List', value) ?? value) : value;
}

/**
 * Why the first of `facts` that meets the stop condition stops the run (the
 * change log's reason), or null when none does. `value` as stored on the sequence.
 */
export function stopReason(type: string, value: string | null, facts: readonly Fact[]): string | null {
  if (type === 'NONE') return null;
  const decoded = stopConditionValue(type, value);
  const fact = facts.find((f) => stopConditionMet(type, decoded, f));
  return fact ? `stop condition ${type}: ${describeFact(fact)}` : null;
}

export function describeFact(fact: Fact): string {
  switch (fact.kind) {
    case 'subscriber_created':
      return 'subscriber created';
    case 'list_added':
      return `added to list ${fact.listId}`;
    case 'list_removed':
      return `removed from list ${fact.listId}`;
    case 'tag_added':
      return `tag ${fact.tag} added`;
    case 'tag_removed':
      return `tag ${fact.tag} removed`;
    case 'segment_entered':
      return `entered segment ${fact.segmentId}`;
    case 'event':
      return `event ${fact.name}`;
  }
}
