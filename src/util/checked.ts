/**
 * Numbers read from metadata files are data, not facts (docs/ARCHITECTURE.md, "Reading inputs"): a
 * manifest's totals, a shard's stats, an eval.json, an index's wit-index.json may be edited, damaged
 * or written by someone else. These checks turn a value into what it must be (a count, a fraction, a
 * bounded list) or name what is wrong with it, so the caller shows a problem instead of the number.
 */

/** What is wrong with one field of a metadata file. */
export interface FieldProblem {
  /** The field, as a path: `totals.kept`, `zero_shot.top1`. */
  field: string;
  /** What it holds and what it should hold: "is -5, not a count (a whole number ≥ 0)". */
  message: string;
}

/** Longest list a metadata file may hold where wit reads one (per-class results, shard lists). */
export const MAX_METADATA_LIST = 100_000;

/** A short, printable form of a value for a message (never the whole of a huge string or list). */
export function describeValue(v: unknown): string {
  if (typeof v === 'number') return Number.isNaN(v) ? 'NaN' : String(v);
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v);
  if (Array.isArray(v)) return `a list of ${v.length}`;
  if (v === null) return 'null';
  return typeof v;
}

/**
 * A count: a whole number ≥ 0 that a double holds exactly (Number.isSafeInteger). Undefined when the
 * field is absent; a problem (and undefined) when it is anything else: -5, 1e308, 2.5, NaN, "7".
 */
export function checkCount(v: unknown, field: string, problems: FieldProblem[]): number | undefined {
  if (v === undefined) return undefined;
  if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) return v;
  problems.push({ field, message: `is ${describeValue(v)}, not a count (a whole number from 0 to ${Number.MAX_SAFE_INTEGER})` });
  return undefined;
}

/** A fraction (a rate, an accuracy, a recall): finite and in [0, 1]; see checkCount. */
export function checkFraction(v: unknown, field: string, problems: FieldProblem[]): number | undefined {
  if (v === undefined) return undefined;
  if (typeof v === 'number' && Number.isFinite(v) && v >= 0 && v <= 1) return v;
  problems.push({ field, message: `is ${describeValue(v)}, not a fraction in [0, 1]` });
  return undefined;
}

/** A finite number (a loss, a similarity, a threshold); see checkCount. */
export function checkFinite(v: unknown, field: string, problems: FieldProblem[]): number | undefined {
  if (v === undefined) return undefined;
  if (typeof v === 'number' && Number.isFinite(v)) return v;
  problems.push({ field, message: `is ${describeValue(v)}, not a finite number` });
  return undefined;
}

/** A list of at most `max` items; see checkCount. */
export function checkList(v: unknown, field: string, problems: FieldProblem[], max = MAX_METADATA_LIST): unknown[] | undefined {
  if (v === undefined) return undefined;
  if (Array.isArray(v) && v.length <= max) return v;
  problems.push({ field, message: Array.isArray(v) ? `holds ${v.length} items, over the ${max} a wit file holds` : `is ${describeValue(v)}, not a list` });
  return undefined;
}

/**
 * Checks that `parts` add up to no more than `total` (kept + failed + skipped ≤ candidates): a
 * problem naming the fields when they do not.
 */
export function checkSum(parts: Array<[string, number | undefined]>, total: [string, number | undefined], problems: FieldProblem[]): void {
  const [totalField, t] = total;
  if (t === undefined) return;
  const known = parts.filter((p): p is [string, number] => p[1] !== undefined);
  const sum = known.reduce((a, [, v]) => a + v, 0);
  if (sum > t) problems.push({ field: totalField, message: `is ${t}, fewer than ${known.map(([f]) => f).join(' + ')} = ${sum}` });
}

/** The problems as one sentence: "totals.kept is -5, not a count …; totals.candidates is …". */
export function describeProblems(problems: readonly FieldProblem[], max = 3): string {
  const shown = problems.slice(0, max).map((p) => `${p.field} ${p.message}`).join('; ');
  return problems.length > max ? `${shown}; ${problems.length - max} more` : shown;
}
