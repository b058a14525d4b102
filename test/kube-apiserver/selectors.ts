// Label selectors (`a=b,c!=d,e in (x,y),f notin (z),g,!h`) and field selectors (`f=v,g!=w`) as
// list and watch accept them; a malformed one or an unsupported field is a 400, as on the real server.
import { badRequest } from './errors.ts';

type Requirement =
  | { key: string; op: 'in' | 'notin'; values: string[] }
  | { key: string; op: 'exists' | '!exists' };

export type Selector = (labels: Record<string, string>) => boolean;

export function parseLabelSelector(text: string | null): Selector {
  if (!text) return () => true;
  const requirements = splitTerms(text).map(parseRequirement);
  return (labels) => requirements.every((requirement) => satisfies(labels, requirement));
}

/** Splits at commas outside parentheses. */
function splitTerms(text: string): string[] {
  const terms: string[] = [];
  let depth = 0;
  let current = '';
  for (const char of text) {
    if (char === '(') depth += 1;
    if (char === ')') depth -= 1;
    if (char === ',' && depth === 0) {
      terms.push(current.trim());
      current = '';
    } else current += char;
  }
  terms.push(current.trim());
  return terms.filter((term) => term !== '');
}

const SET_TERM = /^([A-Za-z0-9._/-]+)\s+(in|notin)\s+\(([^)]*)\)$/;
const EQUALITY_TERM = /^([A-Za-z0-9._/-]+)\s*(==|=|!=)\s*([A-Za-z0-9._-]*)$/;
const EXISTS_TERM = /^(!?)([A-Za-z0-9._/-]+)$/;

function parseRequirement(term: string): Requirement {
  const set = SET_TERM.exec(term);
  if (set) {
    const values = (set[3] ?? '').split(',').map((value) => value.trim());
    return { key: set[1] ?? '', op: set[2] as 'in' | 'notin', values };
  }
  const equality = EQUALITY_TERM.exec(term);
  if (equality) return { key: equality[1] ?? '', op: equality[2] === '!=' ? 'notin' : 'in', values: [equality[3] ?? ''] };
  const exists = EXISTS_TERM.exec(term);
  if (exists) return { key: exists[2] ?? '', op: exists[1] ? '!exists' : 'exists' };
  throw badRequest(`unable to parse requirement: found '${term}', expected: label selector term`);
}

function satisfies(labels: Record<string, string>, requirement: Requirement): boolean {
  const value = labels[requirement.key];
  switch (requirement.op) {
    case 'exists':
      return value !== undefined;
    case '!exists':
      return value === undefined;
    case 'in':
      return value !== undefined && requirement.values.includes(value);
    case 'notin':
      return value === undefined || !requirement.values.includes(value);
  }
}

export type FieldSelector = (fields: (label: string) => string) => boolean;

/** `supported` lists the field labels the resource accepts (metadata.name and metadata.namespace always). */
export function parseFieldSelector(text: string | null, supported: readonly string[]): FieldSelector {
  if (!text) return () => true;
  const terms = splitTerms(text).map((term) => {
    const match = /^([A-Za-z0-9._-]+)\s*(==|=|!=)\s*(.*)$/.exec(term);
    if (!match) throw badRequest(`invalid selector: '${text}'; can't understand '${term}'`);
    const label = match[1] ?? '';
    if (!supported.includes(label)) throw badRequest(`field label not supported: ${label}`);
    return { label, negate: match[2] === '!=', value: match[3] ?? '' };
  });
  return (fields) => terms.every((term) => (fields(term.label) === term.value) !== term.negate);
}
