/**
 * Splits a command line as a POSIX shell would for the plain lines wit's help and README show:
 * words separated by blanks, '…' and "…" quoting, backslash-newline continuations. No expansion
 * (a glob stays as written, which is what a flag parser sees when nothing matches).
 */
export function shellWords(line: string): string[] {
  const words: string[] = [];
  let cur = '';
  let inWord = false;
  const src = line.replace(/\\\n/g, ' ');
  for (let i = 0; i < src.length; i++) {
    const ch = src[i]!;
    if (ch === "'") {
      const end = src.indexOf("'", i + 1);
      if (end < 0) throw new Error(`unterminated ' in: ${line}`);
      cur += src.slice(i + 1, end);
      i = end;
      inWord = true;
    } else if (ch === '"') {
      let j = i + 1;
      for (; j < src.length && src[j] !== '"'; j++) {
        if (src[j] === '\\' && j + 1 < src.length) j++;
        cur += src[j];
      }
      if (j >= src.length) throw new Error(`unterminated " in: ${line}`);
      i = j;
      inWord = true;
    } else if (ch === '\\' && i + 1 < src.length) {
      cur += src[++i];
      inWord = true;
    } else if (/\s/.test(ch)) {
      if (inWord) words.push(cur);
      cur = '';
      inWord = false;
    } else if (ch === '#' && !inWord) {
      break; // a comment
    } else {
      cur += ch;
      inWord = true;
    }
  }
  if (inWord) words.push(cur);
  return words;
}
