/**
 * The diff for people: plain text for a terminal, markdown for a pull-request comment (a summary
 * table first, then one collapsible section per object), JSON for tools.
 */
import { type Diagnostic, describeObject, type ObjectRef } from '../../dsl/diagnostics.js';
import { formatDiagnostics } from '../cli/output.js';
import { formatSeconds } from '../release/machine.js';
import { formatPreview } from '../release/preview.js';
import { brief, type FieldChange } from './fields.js';
import type { DiffResult, ObjectDiff } from './index.js';

function name(o: ObjectRef): string {
  return `${o.namespace ? `${o.namespace}/` : ''}${o.name}`;
}

function side(s: DiffResult['base']): string {
  return s.sha ? `${s.label} (${s.sha.slice(0, 12)})` : s.label;
}

function fieldLine(f: FieldChange): string {
  switch (f.op) {
    case 'add': return `+ ${f.path}: ${brief(f.after)}`;
    case 'remove': return `- ${f.path}: ${brief(f.before)}`;
    default: return `~ ${f.path}: ${brief(f.before)} -> ${brief(f.after)}`;
  }
}

function errorsAndWarnings(ds: readonly Diagnostic[]): { errors: Diagnostic[]; warnings: Diagnostic[] } {
  return { errors: ds.filter((d) => d.severity === 'error'), warnings: ds.filter((d) => d.severity === 'warning') };
}

function summaryLine(r: DiffResult): string {
  const { added, removed, changed } = r.counts;
  return added + removed + changed === 0
    ? `no changes (${r.unchanged} objects)`
    : `${changed} changed, ${added} added, ${removed} removed, ${r.unchanged} unchanged`;
}

export function formatText(r: DiffResult): string {
  const out: string[] = [`${r.app}: ${side(r.base)} -> ${side(r.head)}`, summaryLine(r)];
  const mark = { added: '+', removed: '-', changed: '~' } as const;
  for (const o of r.objects) {
    out.push('', `${mark[o.change]} ${o.object.kind} ${name(o.object)}  ${o.change}${o.constructPath ? `  (${o.constructPath}${o.source ? `, ${o.source}` : ''})` : ''}`);
    const releasePaths = new Set(o.release.map((f) => f.path));
    const summaries = new Map(o.release.filter((f) => f.summary).map((f) => [f.path, f.summary!]));
    for (const f of o.fields) out.push(`    ${releasePaths.has(f.path) ? '!' : ' '} ${summaries.has(f.path) ? `~ ${f.path}: ${summaries.get(f.path)}` : fieldLine(f)}`);
    if (o.preview) out.push(...formatPreview(o.preview).trimEnd().split('\n').map((l) => `    ${l}`));
    else if (o.noRollout) out.push('    no rollout: the pod template is unchanged');
  }
  const base = errorsAndWarnings(r.base.diagnostics);
  if (base.errors.length) out.push('', `note: the base does not synthesize cleanly (${base.errors.length} error(s)); changes are against what it rendered`);
  const head = errorsAndWarnings(r.head.diagnostics);
  out.push('', `policies and validation on ${r.head.label}: ${head.errors.length} error(s), ${head.warnings.length} warning(s)${r.policies.length ? ` (${r.policies.length} policies)` : ''}`);
  const diagnostics = formatDiagnostics([...head.errors, ...head.warnings]);
  if (diagnostics) out.push(diagnostics.trimEnd());
  if (r.objects.some((o) => o.release.length)) out.push('', '! marks a change a release acts on (image, replicas, strategy, partition, gates)');
  return `${out.join('\n')}\n`;
}

const ICON = { added: '🟢 added', removed: '🔴 removed', changed: '🟡 changed' } as const;

function code(s: string): string {
  const t = s.replaceAll('|', '\\|');
  return t.includes('`') ? `\`\` ${t} \`\`` : `\`${t}\``;
}

function releaseSummary(o: ObjectDiff): string {
  const parts: string[] = [];
  for (const f of o.release) {
    if (f.summary) parts.push(`${f.aspect}: ${f.summary.replaceAll('|', '\\|')}`);
    else if (f.aspect === 'image') parts.push(f.op === 'change' ? `image ${code(brief(f.before, 60))} → ${code(brief(f.after, 60))}` : `${f.op === 'add' ? 'adds' : 'removes'} ${code(f.path.replace(/^.*\./, ''))}`);
    else parts.push(`${/([A-Za-z]+)$/.exec(f.path)?.[1] ?? f.aspect} ${f.op === 'change' ? `${code(brief(f.before, 30))} → ${code(brief(f.after, 30))}` : f.op === 'add' ? `set to ${code(brief(f.after, 30))}` : 'removed'}`);
  }
  if (o.preview) parts.push(`release: ${o.preview.steps.length} step(s), ≥ ${o.preview.minSeconds ? formatSeconds(o.preview.minSeconds) : '0s'}`);
  else if (o.noRollout) parts.push('no rollout');
  return [...new Set(parts)].slice(0, 4).join('; ');
}

function mdDiagnostic(d: Diagnostic): string {
  const where = [d.object ? describeObject(d.object) : undefined, d.constructPath ? `construct ${code(d.constructPath)}` : undefined, d.source ? code(d.source) : undefined, d.path ? code(d.path) : undefined].filter(Boolean).join(', ');
  return `- ${d.severity === 'error' ? '❌' : '⚠️'} **${d.rule}**${where ? ` (${where})` : ''}: ${d.message}${d.hint ? `  \n  _${d.hint.split('\n')[0]}_` : ''}`;
}

/** GitHub refuses comments over 65,536 characters; stay below with room for a footer. */
export const MARKDOWN_LIMIT = 60_000;
const MAX_TABLE_ROWS = 150;
const MAX_DIAGNOSTICS = 50;

export function formatMarkdown(r: DiffResult, limit = MARKDOWN_LIMIT): string {
  const out: string[] = [`### kgitops diff: ${code(r.app)}`, '', `${code(side(r.base))} → ${code(side(r.head))}: **${summaryLine(r)}**`];
  const head = errorsAndWarnings(r.head.diagnostics);
  if (r.objects.length) {
    out.push('', '| | Object | Fields | Release |', '|---|---|---|---|');
    for (const o of r.objects.slice(0, MAX_TABLE_ROWS)) {
      out.push(`| ${ICON[o.change]} | ${o.object.kind} ${code(name(o.object))} | ${o.change === 'changed' ? o.fields.length : '—'} | ${releaseSummary(o) || ''} |`);
    }
    if (r.objects.length > MAX_TABLE_ROWS) out.push(`| | _and ${r.objects.length - MAX_TABLE_ROWS} more_ | | |`);
  }
  out.push('', head.errors.length
    ? `**Policies and validation: ❌ ${head.errors.length} error(s)${head.warnings.length ? `, ⚠️ ${head.warnings.length} warning(s)` : ''}. This commit would not be applied.**`
    : `**Policies and validation:** ✅ no errors${head.warnings.length ? `, ⚠️ ${head.warnings.length} warning(s)` : ''}${r.policies.length ? ` (${r.policies.length} policies)` : ''}`);
  const shown = [...head.errors, ...head.warnings];
  for (const d of shown.slice(0, MAX_DIAGNOSTICS)) out.push(mdDiagnostic(d));
  if (shown.length > MAX_DIAGNOSTICS) out.push(`- _and ${shown.length - MAX_DIAGNOSTICS} more (errors first); run \`kgitops diff\` for all_`);
  const base = errorsAndWarnings(r.base.diagnostics);
  if (base.errors.length) out.push('', `_The base does not synthesize cleanly (${base.errors.length} error(s)); changes are against what it rendered._`);
  let size = out.join('\n').length;
  let omitted = 0;
  for (const o of r.objects) {
    const section = ['', `<details><summary>${ICON[o.change]} ${o.object.kind} <code>${name(o.object)}</code>${o.release.length ? ' (release-relevant)' : ''}</summary>`, ''];
    if (o.constructPath) section.push(`Construct ${code(o.constructPath)}${o.source ? ` at ${code(o.source)}` : ''}`, '');
    if (o.release.length) {
      section.push('Release-relevant:', ...o.release.map((f) => `- **${f.aspect}** ${code(f.path)}: ${f.summary ? f.summary : f.op === 'change' ? `${code(brief(f.before))} → ${code(brief(f.after))}` : f.op === 'add' ? `added ${code(brief(f.after))}` : `removed ${code(brief(f.before))}`}`), '');
    }
    section.push('```diff', o.unified.trimEnd(), '```');
    if (o.preview) section.push('', 'Release preview:', '```', formatPreview(o.preview).trimEnd(), '```');
    else if (o.noRollout) section.push('', '_No rollout: the pod template is unchanged._');
    section.push('', '</details>');
    const text = section.join('\n');
    if (omitted || size + text.length > limit) { omitted++; continue; }
    size += text.length + 1;
    out.push(text);
  }
  if (omitted) out.push('', `_${omitted} more object(s) not shown: a pull-request comment is limited in size. Run \`kgitops diff\` (or \`-o json\`) for all._`);
  return `${out.join('\n')}\n`;
}

export function formatJson(r: DiffResult): string {
  return `${JSON.stringify(r, null, 2)}\n`;
}
