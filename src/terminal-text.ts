// Text for a person at a terminal: lines of at most 80 columns.
export const TERMINAL_COLUMNS = 80;

/** Wraps `text` at word boundaries; lines after the first start with `indent` spaces. */
export function wrapText(text: string, indent: number, firstLineUsed = indent): string {
  const lines: string[] = [];
  let line = '';
  let room = TERMINAL_COLUMNS - firstLineUsed;
  for (const word of text.split(' ')) {
    if (line !== '' && line.length + 1 + word.length > room) {
      lines.push(line);
      line = word;
      room = TERMINAL_COLUMNS - indent;
    } else line = line === '' ? word : `${line} ${word}`;
  }
  lines.push(line);
  return lines.join(`\n${' '.repeat(indent)}`);
}

/** One line cut to `columns`, marked with an ellipsis when cut. */
export function fitLine(line: string, columns = TERMINAL_COLUMNS): string {
  return line.length <= columns ? line : `${line.slice(0, columns - 1)}…`;
}
