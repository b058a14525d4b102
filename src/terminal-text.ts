// Text for a person at a terminal: lines of at most 80 columns.
export const TERMINAL_COLUMNS = 80;

interface Piece {
  text: string;
  /** Whether a space separates it from the piece before (false within one long word). */
  spaced: boolean;
}

/** Cuts a word longer than `room` after its commas (JSON, option lists), else its slashes, else anywhere. */
function cutWord(word: string, room: number): Piece[] {
  const pieces: Piece[] = [];
  let rest = word;
  while (rest.length > room) {
    const window = rest.slice(0, room);
    const comma = window.lastIndexOf(',');
    const at = comma > 0 ? comma : window.lastIndexOf('/');
    const end = at > 0 ? at + 1 : room;
    pieces.push({ text: rest.slice(0, end), spaced: pieces.length === 0 });
    rest = rest.slice(end);
  }
  pieces.push({ text: rest, spaced: pieces.length === 0 });
  return pieces;
}

/**
 * Wraps `text` at spaces (and inside words too long for a line); lines after the first start
 * with `indent` spaces. `firstLineUsed` is how many columns precede the text on its first line.
 */
export function wrapText(text: string, indent: number, firstLineUsed = indent): string {
  const room = TERMINAL_COLUMNS - indent;
  const pieces = text.split(' ').flatMap((word) => cutWord(word, room));
  const lines: string[] = [];
  let line = '';
  let free = TERMINAL_COLUMNS - firstLineUsed;
  for (const piece of pieces) {
    const joined = line === '' ? piece.text : `${line}${piece.spaced ? ' ' : ''}${piece.text}`;
    if (line !== '' && joined.length > free) {
      lines.push(line);
      line = piece.text;
      free = room;
    } else line = joined;
  }
  lines.push(line);
  return lines.join(`\n${' '.repeat(indent)}`);
}

/** One line cut to `columns`, marked with an ellipsis when cut. */
export function fitLine(line: string, columns = TERMINAL_COLUMNS): string {
  return line.length <= columns ? line : `${line.slice(0, columns - 1)}…`;
}
