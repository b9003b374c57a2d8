/**
 * Label selectors: the string form of list/watch requests (`a=b,c in (x,y),!d`) and the
 * LabelSelector objects of workload specs (matched with dsl/rules.ts, the same code the webhook
 * rules use), plus the canonical string Kruise writes into status.labelSelector.
 */
import { RequestError } from '../errors.js';
import { selectorMatches } from '../../../dsl/rules.js';

export type Requirement =
  | { readonly key: string; readonly op: 'in' | 'notin'; readonly values: readonly string[] }
  | { readonly key: string; readonly op: 'exists' | '!' }
  | { readonly key: string; readonly op: 'gt' | 'lt'; readonly value: number };

/** Parses a selector string; throws RequestError (400) on a malformed one, as the apiserver does. */
export function parseSelector(s: string | undefined): Requirement[] {
  if (!s || !s.trim()) return [];
  const out: Requirement[] = [];
  for (const part of splitTopLevel(s)) {
    const t = part.trim();
    if (!t) throw bad(s, 'empty requirement');
    let m: RegExpExecArray | null;
    if ((m = /^!\s*([^\s=!<>(),]+)$/.exec(t))) out.push({ key: m[1]!, op: '!' });
    else if ((m = /^([^\s=!<>(),]+)\s+(in|notin)\s*\(([^()]*)\)$/.exec(t))) {
      const values = m[3]!.split(',').map((v) => v.trim());
      if (values.some((v) => v === '')) throw bad(s, `for 'in' and 'notin' the values can't be empty ("${t}")`);
      out.push({ key: m[1]!, op: m[2] as 'in' | 'notin', values });
    } else if ((m = /^([^\s=!<>(),]+)\s*(==|=|!=)\s*([^\s=!<>(),]*)$/.exec(t))) {
      out.push({ key: m[1]!, op: m[2] === '!=' ? 'notin' : 'in', values: [m[3]!] });
    } else if ((m = /^([^\s=!<>(),]+)\s*([<>])\s*(-?\d+)$/.exec(t))) {
      out.push({ key: m[1]!, op: m[2] === '>' ? 'gt' : 'lt', value: Number(m[3]) });
    } else if ((m = /^([^\s=!<>(),]+)$/.exec(t))) out.push({ key: m[1]!, op: 'exists' });
    else throw bad(s, `cannot parse "${t}"`);
  }
  return out;
}

function bad(s: string, why: string): RequestError {
  return new RequestError({ verb: 'list' }, 400, 'BadRequest', `unable to parse requirement in label selector ${JSON.stringify(s)}: ${why}`);
}

function splitTopLevel(s: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let cur = '';
  for (const c of s) {
    if (c === '(') depth++;
    if (c === ')') depth--;
    if (c === ',' && depth === 0) {
      parts.push(cur);
      cur = '';
    } else cur += c;
  }
  parts.push(cur);
  return parts;
}

export function matchesRequirements(reqs: readonly Requirement[], labels: Record<string, string> | undefined): boolean {
  const l = labels ?? {};
  for (const r of reqs) {
    const has = Object.prototype.hasOwnProperty.call(l, r.key);
    switch (r.op) {
      case 'in': if (!has || !r.values.includes(l[r.key]!)) return false; break;
      case 'notin': if (has && r.values.includes(l[r.key]!)) return false; break;
      case 'exists': if (!has) return false; break;
      case '!': if (has) return false; break;
      case 'gt': if (!has || !(Number(l[r.key]) > r.value)) return false; break;
      case 'lt': if (!has || !(Number(l[r.key]) < r.value)) return false; break;
    }
  }
  return true;
}

/** A spec LabelSelector (matchLabels/matchExpressions). An empty or missing selector matches everything. */
export function labelSelectorMatches(sel: unknown, labels: Record<string, string> | undefined): boolean {
  if (sel === undefined || sel === null) return true;
  return selectorMatches(sel, labels ?? {});
}

/** metav1.LabelSelectorAsSelector(...).String(): requirements sorted by key. */
export function labelSelectorString(sel: any): string {
  if (!sel) return '';
  const reqs: [string, string][] = [];
  for (const [k, v] of Object.entries<string>(sel.matchLabels ?? {})) reqs.push([k, `${k}=${v}`]);
  for (const e of sel.matchExpressions ?? []) {
    const values = [...(e.values ?? [])].sort().join(',');
    switch (e.operator) {
      case 'In': reqs.push([e.key, `${e.key} in (${values})`]); break;
      case 'NotIn': reqs.push([e.key, `${e.key} notin (${values})`]); break;
      case 'Exists': reqs.push([e.key, e.key]); break;
      case 'DoesNotExist': reqs.push([e.key, `!${e.key}`]); break;
    }
  }
  return reqs.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)).map((r) => r[1]).join(',');
}
