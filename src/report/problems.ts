import { WitError, errorMessage, messageWithoutFile } from '../util/errors.js';

/**
 * An input of the report that could not be read (docs/ARCHITECTURE.md, "The report"): the file at
 * fault and what is wrong with it. The page is still written, with the problem in its section, and
 * `wit report` then exits 2 naming the first, so a script notices.
 */
export interface InputProblem {
  file: string;
  message: string;
}

/**
 * The problem a thrown error describes: the file a wit error names (the most precise: the weights
 * file, not the model folder) or else `where`, the run being read, and the message without the
 * stage and file prefixes.
 */
export function problemOf(err: unknown, where: string): InputProblem {
  if (err instanceof WitError && err.file) return { file: err.file, message: messageWithoutFile(err) };
  return { file: where, message: errorMessage(err) };
}

/** An error of one item of a section (a run folder, a file), carrying the item's path for {@link problemOf}. */
export class ItemError extends Error {
  constructor(readonly where: string, readonly error: unknown) {
    super(errorMessage(error), { cause: error });
  }
}
