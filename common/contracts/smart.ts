import { z } from 'zod';
import { id } from './shared.js';

/**
 * The rules of a smart playlist: conditions over the catalog (genre, year, artist, album, the
 * date a track was added) and over its owner's own listening (play count, last played, rating,
 * starred), combined with all/any groups, with an order and a limit. The playlists service keeps
 * them; the catalog runs them (`catalog.matchTracks`) with the owner's listening passed in.
 */

/** Most tracks a smart playlist holds. */
export const SMART_MAX_LIMIT = 1000;
/** Most conditions in one set of rules, counting every group's. */
export const SMART_MAX_CONDITIONS = 50;
/** Deepest nesting of groups (the top level is 1). */
export const SMART_MAX_DEPTH = 3;
/** Most items in one group. */
export const SMART_MAX_GROUP = 20;
/**
 * Most tracks of one user's listening (plays, ratings, stars) a rule is evaluated with; a
 * user with more has the most recent of each kind counted (docs/ARCHITECTURE.md).
 */
export const SMART_MAX_FACTS = 50_000;

const text = z.string().trim().min(1, 'the value must not be empty').max(200);
const year = z.number().int().min(0).max(9999);
const count = z.number().int().min(0).max(1_000_000_000);
const stars = z.number().int().min(0).max(5);
const days = z.number().int().min(1).max(36_500);
const date = z.iso.date({ message: 'the value must be a date like 2024-01-31' });

/** A condition on a text field: equal or containing, ignoring case. */
const textCondition = <F extends string>(field: F) =>
  z.strictObject({
    field: z.literal(field),
    op: z.enum(['is', 'isNot', 'contains', 'notContains']),
    value: text,
  });

/** A condition on a number: equal, greater, less (strictly) or within a range (inclusive). */
const numberCondition = <F extends string>(field: F, value: z.ZodNumber) =>
  z.discriminatedUnion('op', [
    z.strictObject({ field: z.literal(field), op: z.enum(['is', 'isNot', 'gt', 'lt']), value }),
    z.strictObject({
      field: z.literal(field),
      op: z.literal('inRange'),
      value: z
        .tuple([value, value])
        .refine(([a, b]) => a <= b, 'a range goes from its lower to its upper bound'),
    }),
  ]);

/** A condition on a date: before or after a day (UTC), or within (not within) the last days. */
const dateCondition = <F extends string>(field: F) =>
  z.discriminatedUnion('op', [
    z.strictObject({ field: z.literal(field), op: z.enum(['before', 'after']), value: date }),
    z.strictObject({ field: z.literal(field), op: z.enum(['inTheLast', 'notInTheLast']), value: days }),
  ]);

export const smartCondition = z.discriminatedUnion('field', [
  textCondition('genre'),
  textCondition('artist'),
  textCondition('album'),
  textCondition('title'),
  numberCondition('year', year),
  numberCondition('playCount', count),
  numberCondition('rating', stars),
  dateCondition('addedAt'),
  dateCondition('lastPlayed'),
  z.strictObject({ field: z.literal('starred'), op: z.literal('is'), value: z.boolean() }),
]);
export type SmartCondition = z.infer<typeof smartCondition>;
export type SmartField = SmartCondition['field'];

export type SmartRule = SmartCondition | { all: SmartRule[] } | { any: SmartRule[] };

export const SMART_FIELDS = [
  'genre',
  'artist',
  'album',
  'title',
  'year',
  'addedAt',
  'playCount',
  'lastPlayed',
  'rating',
  'starred',
] as const satisfies readonly SmartField[];
/** Fields whose values are the owner's own listening, not the catalog's. */
export const LISTENING_FIELDS = ['playCount', 'lastPlayed', 'rating', 'starred'] as const;

const group = (rule: z.ZodType<SmartRule>) =>
  z.array(rule).min(1, 'a group needs a rule').max(SMART_MAX_GROUP);
const allGroup = (rule: z.ZodType<SmartRule>) => z.strictObject({ all: group(rule) });
const anyGroup = (rule: z.ZodType<SmartRule>) => z.strictObject({ any: group(rule) });

/**
 * A rule (a condition or a group), or with `groupOnly` a group. Which of them an object is
 * comes from its keys (`all`, `any`, or a condition's `field`), so an error names what is
 * wrong with that one rather than "invalid input".
 */
function ruleSchema(groupOnly: boolean): z.ZodType<SmartRule> {
  return z.unknown().transform((value, ctx): SmartRule => {
    const keys = typeof value === 'object' && value !== null ? Object.keys(value) : [];
    const schema = keys.includes('all')
      ? allGroup(smartRule)
      : keys.includes('any')
        ? anyGroup(smartRule)
        : keys.includes('field') && !groupOnly
          ? smartCondition
          : null;
    if (!schema) {
      ctx.addIssue({
        code: 'custom',
        message: groupOnly
          ? 'rule is a group: {"all": [...]} or {"any": [...]}'
          : `a rule is a condition ({"field", "op", "value"}; fields: ${SMART_FIELDS.join(', ')}) or a group ({"all": [...]} or {"any": [...]})`,
      });
      return z.NEVER;
    }
    const parsed = schema.safeParse(value);
    if (parsed.success) return parsed.data;
    for (const issue of parsed.error.issues)
      ctx.addIssue({ code: 'custom', message: issue.message, path: issue.path });
    return z.NEVER;
  }) as unknown as z.ZodType<SmartRule>;
}
export const smartRule: z.ZodType<SmartRule> = ruleSchema(false);
const topRule = ruleSchema(true) as z.ZodType<{ all: SmartRule[] } | { any: SmartRule[] }>;

export const SMART_SORTS = [...SMART_FIELDS.filter((f) => f !== 'starred'), 'random'] as const;
export type SmartSort = (typeof SMART_SORTS)[number];

/** Walks a rule tree: each condition with the depth of the group holding it. */
export function* conditionsOf(rule: SmartRule, depth = 1): Generator<[SmartCondition, number]> {
  if ('all' in rule || 'any' in rule) {
    for (const r of 'all' in rule ? rule.all : rule.any) yield* conditionsOf(r, depth + 1);
  } else yield [rule, depth - 1];
}

/** How deep the groups of a rule go (a condition alone: 0). */
function depthOf(rule: SmartRule): number {
  if (!('all' in rule || 'any' in rule)) return 0;
  return 1 + Math.max(...('all' in rule ? rule.all : rule.any).map(depthOf));
}

/** A smart playlist's definition: which tracks (`rule`, a group), in which order, how many. */
export const smartRules = z
  .strictObject({
    rule: topRule,
    sort: z.enum(SMART_SORTS).default('artist'),
    order: z.enum(['asc', 'desc']).default('asc'),
    limit: z.number().int().min(1).max(SMART_MAX_LIMIT).default(100),
  })
  .superRefine((value, ctx) => {
    const depth = depthOf(value.rule);
    if (depth > SMART_MAX_DEPTH) {
      ctx.addIssue({
        code: 'custom',
        path: ['rule'],
        message: `groups nest at most ${SMART_MAX_DEPTH} deep (these nest ${depth})`,
      });
    }
    const n = [...conditionsOf(value.rule)].length;
    if (n > SMART_MAX_CONDITIONS) {
      ctx.addIssue({
        code: 'custom',
        path: ['rule'],
        message: `a smart playlist has at most ${SMART_MAX_CONDITIONS} conditions (these have ${n})`,
      });
    }
  });
export type SmartRules = z.output<typeof smartRules>;
export type SmartRulesInput = z.input<typeof smartRules>;

/** Whether the rules (conditions or order) read the owner's listening, and which of it. */
export function listeningNeeds(rules: SmartRules): { plays: boolean; marks: boolean } {
  const fields = new Set<string>([...conditionsOf(rules.rule)].map(([c]) => c.field));
  fields.add(rules.sort);
  return {
    plays: fields.has('playCount') || fields.has('lastPlayed'),
    marks: fields.has('rating') || fields.has('starred'),
  };
}

/**
 * The owner's listening a rule is evaluated with, one entry per track (columns of equal
 * length): tracks absent have no plays, no rating and no star.
 */
export const listeningFacts = z
  .strictObject({
    trackIds: z.array(id).max(SMART_MAX_FACTS * 3),
    plays: z.array(count).max(SMART_MAX_FACTS * 3),
    /** ISO date-time, or null for never. */
    lastPlayed: z.array(z.iso.datetime({ offset: true }).nullable()).max(SMART_MAX_FACTS * 3),
    rating: z.array(stars).max(SMART_MAX_FACTS * 3),
    starred: z.array(z.boolean()).max(SMART_MAX_FACTS * 3),
  })
  .refine(
    (f) => [f.plays, f.lastPlayed, f.rating, f.starred].every((c) => c.length === f.trackIds.length),
    'every column of the facts has one entry per track',
  );
export type ListeningFacts = z.infer<typeof listeningFacts>;
