/**
 * Line splitting of decoded text in linear time, whatever the line lengths.
 *
 * The obvious loop (`text = rest + chunk`, then search the whole of `text` for '\n') copies and
 * rescans the unfinished line once per chunk, so one 50 MB line costs 50 MB x (50 MB / 64 KB): the
 * pageview reader took minutes on such a file. Here only new text is searched, and a line longer
 * than `maxChars` is never buffered: it is reported once (with its first characters) and skipped to
 * its end. Used by every line-oriented reader of querygen (pageview files, multistream indexes).
 */

export interface LineHandlers {
  /** A complete line, without its '\n' (and without a trailing '\r'). */
  line: (line: string) => void;
  /** A line over maxChars characters: its first 80 characters and its length in characters. */
  overlong: (head: string, chars: number) => void;
}

export class LineSplitter {
  /** The unfinished line (at most maxChars characters). */
  private rest = '';
  /** >= 0 while skipping an overlong line: its length so far. */
  private skipped = -1;
  private head = '';
  /**
   * Characters searched for '\n' or copied into the unfinished line so far: the work of splitting,
   * which tests bound by the input's size (at most about twice its characters; the quadratic loop
   * above makes it input^2 / piece size) instead of timing it.
   */
  work = 0;

  constructor(
    private readonly maxChars: number,
    private readonly on: LineHandlers,
  ) {}

  /** Feeds the next piece of text. */
  push(text: string): void {
    // the searches below cover `text` once, from its start to its last '\n', then extend() the rest
    this.work += text.length;
    let a = 0;
    let b = text.indexOf('\n');
    if (b < 0) {
      this.extend(text);
      return;
    }
    // the line pending from earlier pieces ends in this one
    if (this.skipped >= 0) {
      this.on.overlong(this.head, this.skipped + b);
      this.skipped = -1;
    } else {
      this.work += this.rest.length;
      this.emit(this.rest.length > 0 ? this.rest + text.slice(0, b) : text.slice(0, b));
    }
    this.rest = '';
    a = b + 1;
    while ((b = text.indexOf('\n', a)) >= 0) {
      this.emit(text.slice(a, b));
      a = b + 1;
    }
    this.extend(a === 0 ? text : text.slice(a));
  }

  /** Ends the text: a last line without '\n' is a line. */
  end(): void {
    if (this.skipped >= 0) this.on.overlong(this.head, this.skipped);
    else if (this.rest.length > 0) this.emit(this.rest);
    this.rest = '';
    this.skipped = -1;
  }

  /** Adds text that holds no '\n' to the unfinished line. */
  private extend(text: string): void {
    if (text.length === 0) return;
    if (this.skipped >= 0) {
      this.skipped += text.length;
      return;
    }
    this.work += this.rest.length;
    if (this.rest.length + text.length > this.maxChars) {
      this.head = (this.rest + text.slice(0, 80)).slice(0, 80);
      this.skipped = this.rest.length + text.length;
      this.rest = '';
      return;
    }
    this.rest += text;
  }

  private emit(line: string): void {
    const s = line.charCodeAt(line.length - 1) === 13 ? line.slice(0, -1) : line;
    if (s.length > this.maxChars) this.on.overlong(s.slice(0, 80), s.length);
    else this.on.line(s);
  }
}
