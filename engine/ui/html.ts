/**
 * The dashboard's pages, rendered on the server as plain HTML: a table of Apps, and one App with
 * its releases (a timeline of steps and gates), objects, reconciles and drift corrections. One
 * small script (client.ts) makes them live and sends the release commands; without it every page
 * still reads. Everything that comes from a cluster or a repo is escaped.
 */
import type { AppObject } from '../controller/app-resource.js';
import type { DiffResult, ObjectDiff } from '../diff/index.js';
import { brief, type FieldChange } from '../diff/fields.js';
import { formatPreview } from '../release/preview.js';
import { fleetOf } from '../fleet/commands.js';
import type { FleetStatus } from '../fleet/runner.js';
import type { AppDetails, GateView, ReleaseView, StepView } from './view.js';
import { CLIENT_SCRIPT } from './client.js';

/** Text for HTML content and attribute values. */
export function esc(v: unknown): string {
  return String(v ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

const STYLE = `
:root { --fg: #1b1f24; --muted: #4b5563; --bg: #fff; --line: #d0d7de; --ok: #116329; --warn: #7a4d00; --bad: #a40e26; --info: #0b4f9c; --chip: #f3f4f6; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--fg); background: var(--bg); }
header { display: flex; flex-wrap: wrap; gap: .5rem 1.5rem; align-items: center; padding: .6rem 1rem; border-bottom: 1px solid var(--line); }
header a.home { font-weight: 700; color: var(--fg); text-decoration: none; }
.sim { background: #fff4ce; color: var(--warn); padding: .1rem .5rem; border-radius: 4px; font-weight: 600; }
main { padding: 1rem; max-width: 1200px; }
h1 { font-size: 1.35rem; margin: .2rem 0 1rem; } h2 { font-size: 1.1rem; margin: 1.6rem 0 .6rem; } h3 { font-size: 1rem; margin: .8rem 0 .4rem; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: .35rem .5rem; border-bottom: 1px solid var(--line); vertical-align: top; }
th { font-weight: 600; color: var(--muted); }
.wrap { overflow-x: auto; }
code, .mono { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: .9em; }
.status { display: inline-block; padding: 0 .45rem; border-radius: 999px; background: var(--chip); font-weight: 600; white-space: nowrap; }
.s-ok { color: var(--ok); } .s-warn { color: var(--warn); } .s-bad { color: var(--bad); } .s-info { color: var(--info); } .s-muted { color: var(--muted); }
label { font-weight: 600; }
input[type=search], input[type=password] { font: inherit; padding: .3rem .5rem; border: 1px solid var(--muted); border-radius: 4px; min-width: 14rem; }
button { font: inherit; padding: .3rem .8rem; border: 1px solid var(--muted); border-radius: 4px; background: var(--chip); color: var(--fg); cursor: pointer; }
button:focus-visible, a:focus-visible, input:focus-visible { outline: 3px solid var(--info); outline-offset: 2px; }
.release { border: 1px solid var(--line); border-radius: 6px; padding: .6rem .9rem; margin: .8rem 0; }
.steps { list-style: none; padding: 0; margin: .6rem 0; display: grid; gap: .5rem; }
.step { border-left: 4px solid var(--line); padding: .3rem .7rem; }
.step.current { border-color: var(--info); } .step.done { border-color: var(--ok); }
.gates { list-style: none; padding: 0; margin: .3rem 0 0; }
.gates li { margin: .2rem 0; }
.actions { display: flex; flex-wrap: wrap; gap: .5rem; margin: .5rem 0; }
.note { color: var(--muted); }
.error { color: var(--bad); }
#flash:not(:empty) { margin: .5rem 0; padding: .4rem .7rem; border: 1px solid var(--line); border-radius: 4px; }
details.token { font-size: .9rem; }
svg.chart { vertical-align: middle; }
.change { border: 1px solid var(--line); border-radius: 6px; margin: .4rem 0; padding: .3rem .7rem; }
.change > summary { cursor: pointer; }
.fields { list-style: none; padding: 0; margin: .4rem 0; }
.fields li { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: .88em; overflow-wrap: anywhere; }
.rel { background: #fff4ce; color: var(--warn); border-radius: 4px; padding: 0 .35rem; font-family: system-ui, sans-serif; font-weight: 600; }
pre.diff { overflow-x: auto; font-size: .85em; background: #f6f8fa; padding: .4rem .6rem; border-radius: 4px; }
pre.diff .add { color: var(--ok); } pre.diff .del { color: var(--bad); } pre.diff .hunk { color: var(--info); }
@media (max-width: 640px) { th.opt, td.opt { display: none; } main { padding: .6rem; } }
`;

export interface PageOptions {
  readonly simulated: boolean;
  /** `apps` for the list, the App's key (ns/name) for its page: what the live events refresh. */
  readonly page: string;
}

/** A whole page; `main` is also what a live refresh fetches alone (fragment()). */
export function page(title: string, main: string, o: PageOptions): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(title)} · kgitops</title>
<style>${STYLE}</style>
</head>
<body data-page="${esc(o.page)}">
<header>
  <a class="home" href="/">kgitops</a>
  ${o.simulated ? '<span class="sim" role="note">SIMULATION: the cluster is simulated in-process</span>' : ''}
  <span id="live" class="note" aria-live="polite">static</span>
  <details class="token">
    <summary>Token for release actions</summary>
    <form id="token-form">
      <label for="token">Bearer token</label>
      <input id="token" name="token" type="password" autocomplete="off">
      <button type="submit">Use token</button>
      <button type="button" id="token-clear">Forget token</button>
    </form>
    <p class="note">Kept in this tab only (sessionStorage). Approve, pause, resume and abort are authorized by the cluster's RBAC for this token.</p>
  </details>
</header>
<div id="flash" role="status" aria-live="polite"></div>
<main id="main">
${main}
</main>
<script>${CLIENT_SCRIPT}</script>
</body>
</html>
`;
}

function tone(status: string): string {
  if (/^(Synced|Current|Healthy|True|Passed|Succeeded|Completed|open)$/.test(status)) return 's-ok';
  if (/^(Failed|False|Aborted|Unreadable|Missing|Stalled)$/.test(status)) return 's-bad';
  if (/^(OutOfSync|Paused|PausedAtPartition|Inconclusive|Interrupted|closed)$/.test(status)) return 's-warn';
  if (/^(Progressing|Pending)$/.test(status)) return 's-info';
  return 's-muted';
}

export function statusChip(status: string): string {
  return `<span class="status ${tone(status)}">${esc(status)}</span>`;
}

const appHref = (ns: string, name: string) => `/apps/${encodeURIComponent(ns)}/${encodeURIComponent(name)}`;
const time = (iso: string | undefined) => (iso ? `<time datetime="${esc(iso)}">${esc(iso.replace('T', ' ').replace(/\.\d+Z$/, 'Z'))}</time>` : '-');

/** The Apps table, with a filter (client side; every row is in the page). */
export function appsMain(apps: readonly AppObject[]): string {
  const rows = [...apps].sort((a, b) => `${a.metadata.namespace}/${a.metadata.name}`.localeCompare(`${b.metadata.namespace}/${b.metadata.name}`)).map((a) => {
    const s = a.status ?? {};
    const release = s.releases?.find((r) => r.phase === 'Progressing' || r.phase === 'Paused');
    return `<tr data-filter="${esc(`${a.metadata.namespace} ${a.metadata.name} ${s.sync ?? ''} ${s.health ?? ''} ${s.commit ?? ''}`.toLowerCase())}">
<td>${esc(a.metadata.namespace)}</td>
<td><a href="${appHref(a.metadata.namespace, a.metadata.name)}">${esc(a.metadata.name)}</a></td>
<td class="mono">${esc(s.commit ?? '-')}</td>
<td>${statusChip(s.sync ?? 'Unknown')}</td>
<td>${statusChip(s.health ?? 'Unknown')}</td>
<td>${release ? `${esc(release.workload)}: ${statusChip(release.phase)} step ${esc(release.step)}/${esc(release.steps)}` : esc(s.release || '-')}</td>
<td class="opt">${esc((s.message ?? '').slice(0, 120))}</td>
</tr>`;
  });
  return `<h1>Apps</h1>
<p><label for="filter">Filter</label> <input id="filter" type="search" placeholder="namespace, name, state, commit" aria-controls="apps"></p>
<div class="wrap"><table id="apps">
<caption class="note" style="text-align:left">${apps.length} App(s)</caption>
<thead><tr><th scope="col">Namespace</th><th scope="col">App</th><th scope="col">Commit</th><th scope="col">Sync</th><th scope="col">Health</th><th scope="col">Release</th><th scope="col" class="opt">Message</th></tr></thead>
<tbody>
${rows.join('\n') || '<tr><td colspan="7" class="note">No Apps yet: declare one (kind: App, apiVersion: kgitops.io/v1alpha1).</td></tr>'}
</tbody>
</table></div>`;
}

/** A small line chart of a measured gate's values (no values: nothing). */
function chart(g: GateView): string {
  const values = (g.measurements ?? []).filter((m) => m.value !== undefined);
  if (values.length < 1) return '';
  const w = 160;
  const h = 36;
  const ys = values.map((m) => m.value!);
  const min = Math.min(...ys);
  const max = Math.max(...ys);
  const span = max - min || 1;
  const pts = values.map((m, i) => `${values.length === 1 ? w / 2 : (i / (values.length - 1)) * (w - 8) + 4},${h - 4 - ((m.value! - min) / span) * (h - 8)}`);
  const dots = values.map((m, i) => {
    const [x, y] = pts[i]!.split(',');
    return `<circle cx="${x}" cy="${y}" r="3" class="${m.phase === 'Successful' ? 's-ok' : m.phase === 'Failed' ? 's-bad' : 's-warn'}" fill="currentColor"><title>${esc(`${m.at}: ${m.value} (${m.phase})`)}</title></circle>`;
  });
  const label = `measurements ${ys.join(', ')}${g.condition ? `; success when ${g.condition}` : ''}`;
  return ` <svg class="chart" width="${w}" height="${h}" role="img" aria-label="${esc(label)}"><polyline points="${pts.join(' ')}" fill="none" stroke="#57606a" stroke-width="1.5"/>${dots.join('')}</svg>`;
}

function gateItem(g: GateView): string {
  let extra = '';
  if (g.bakeEndsAt) extra += ` · ends <time data-countdown="${esc(g.bakeEndsAt)}" datetime="${esc(g.bakeEndsAt)}">${esc(g.bakeEndsAt)}</time>`;
  if (g.window) extra += ` · ${statusChip(g.window.open ? 'open' : 'closed')} ${g.window.open ? 'closes' : 'opens'} ${time(g.window.changesAt)}`;
  if (g.condition) extra += ` · success when <code>${esc(g.condition)}</code>`;
  const last = g.measurements?.at(-1);
  if (last && g.type === 'http') extra += ` · last: ${esc(last.message)}`;
  return `<li data-gate="${esc(g.key)}">${statusChip(g.status)} <strong>${esc(g.description)}</strong>${extra}${chart(g)}<br><span class="note">${esc(g.message)}</span></li>`;
}

function stepItem(r: ReleaseView, s: StepView): string {
  const notes = [
    ...(s.state === 'current' ? [`new revision: ${r.pods.updated} pods, ${r.pods.updatedReady} ready, of ${s.targetPods ?? '?'} for this step; previous revision: ${Math.max(0, r.pods.desired - r.pods.updated)} pods (${r.pods.desired} in all, ${r.pods.ready} ready)`] : []),
    ...(s.state === 'current' && r.pods.subsets ? [`by subset: ${r.pods.subsets.map((x) => `${esc(x.name)} ${x.newRevision} of ${x.pods} may run the new revision (partition ${x.partition}${x.ready !== undefined ? `, ${x.ready} ready` : ''})`).join('; ')}`] : []),
    ...r.approvals.filter((a) => a.step === s.index).map((a) => `approved by ${esc(a.by)} at ${time(a.at)} (${a.via === 'git' ? 'a signed commit' : 'kgitops approve or the dashboard'})`),
  ];
  return `<li class="step ${s.state}" data-step="${s.index}"><h4 style="margin:0">Step ${s.index} of ${r.steps.length}: to ${esc(s.target)}${s.targetPods !== undefined ? ` (${s.targetPods} pods)` : ''} <span class="note">${esc(s.state)}</span></h4>
${notes.length ? `<span class="note">${notes.join(' · ')}</span>` : ''}
<ul class="gates">${s.gates.map(gateItem).join('')}</ul></li>`;
}

function releaseActions(app: string, r: ReleaseView): string {
  if (r.phase !== 'Progressing' && r.phase !== 'Paused') return '';
  const workload = JSON.stringify(r.key);
  const button = (action: string, label: string, confirm: string) => `<button type="button" data-action="${action}" data-app="${esc(app)}" data-workload="${esc(workload)}" data-step="${r.step}" data-confirm="${esc(confirm)}">${esc(label)}</button>`;
  return `<div class="actions" role="group" aria-label="Release actions for ${esc(r.workload)}">
${button('approve', `Approve step ${r.step}`, `Approve step ${r.step} of release ${r.id}?`)}
${r.phase === 'Paused' ? button('resume', 'Resume', `Resume release ${r.id}?`) : button('pause', 'Pause', `Pause release ${r.id}?`)}
${button('abort', 'Abort', `Abort release ${r.id}? Its pods go back to the previous revision.`)}
</div>`;
}

function releaseSection(app: string, r: ReleaseView): string {
  if (r.problem) return `<section class="release" aria-label="${esc(r.workload)}"><h3>${esc(r.workload)} ${statusChip('Unreadable')}</h3><p class="error">${esc(r.problem)}</p></section>`;
  return `<section class="release" aria-label="Release of ${esc(r.workload)}" data-release="${esc(r.id)}">
<h3>${esc(r.workload)} ${statusChip(r.phase)} <span class="note">step ${r.step} of ${r.steps.length}</span></h3>
<p class="note">release <code>${esc(r.id)}</code> · revision <code>${esc(r.revision.slice(0, 12))}</code>${r.previousRevision ? ` (from <code>${esc(r.previousRevision.slice(0, 12))}</code>)` : ''} · started ${time(r.startedAt)}${r.finishedAt ? ` · finished ${time(r.finishedAt)}` : ''}</p>
${r.pause ? `<p>${statusChip('Paused')} ${esc(r.pause.reason)} <span class="note">(${esc(r.pause.by)}, ${time(r.pause.at)})</span></p>` : ''}
${releaseActions(app, r)}
<ol class="steps">${r.steps.map((s) => stepItem(r, s)).join('')}</ol>
<details><summary>Transitions (${r.history.length})</summary><ul>${[...r.history].reverse().map((h) => `<li>${time(h.at)} step ${h.step + 1} <strong>${esc(h.reason)}</strong>: ${esc(h.message)}</li>`).join('')}</ul></details>
</section>`;
}

function fieldText(f: FieldChange): string {
  switch (f.op) {
    case 'add': return `+ ${f.path}: ${brief(f.after)}`;
    case 'remove': return `- ${f.path}: ${brief(f.before)}`;
    default: return `~ ${f.path}: ${brief(f.before)} → ${brief(f.after)}`;
  }
}

function unifiedHtml(text: string): string {
  return text.trimEnd().split('\n').map((l) => {
    const cls = l.startsWith('@@') ? 'hunk' : l.startsWith('+') && !l.startsWith('+++') ? 'add' : l.startsWith('-') && !l.startsWith('---') ? 'del' : '';
    return cls ? `<span class="${cls}">${esc(l)}</span>` : esc(l);
  }).join('\n');
}

const CHANGE_WORD = { added: '+ added', removed: '− removed', changed: '~ changed' } as const;
/** Objects shown one by one; a bigger change is summed up (the JSON API has them all). */
const CHANGE_LIMIT = 100;

function objectChange(o: ObjectDiff): string {
  const release = new Map(o.release.map((f) => [f.path, f]));
  const where = [o.constructPath ? `construct ${o.constructPath}` : '', o.source ?? ''].filter(Boolean).join(', ');
  const fields = o.fields.map((f) => {
    const r = release.get(f.path);
    return `<li>${r ? `<span class="rel" title="a release acts on this field">release: ${esc(r.aspect)}</span> ` : ''}${esc(r?.summary ? `~ ${f.path}: ${r.summary}` : fieldText(f))}</li>`;
  });
  const preview = o.preview ? `<h4>The release it starts</h4><pre class="diff">${esc(formatPreview(o.preview).trimEnd())}</pre>` : o.noRollout ? '<p class="note">No rollout: the pod template is unchanged.</p>' : '';
  // Objects with a release-relevant change are open: they are what a reviewer looks at first.
  return `<details class="change" data-change="${esc(o.change)}"${o.release.length ? ' open' : ''}>
<summary><strong>${esc(CHANGE_WORD[o.change])}</strong> ${esc(o.object.kind)} <code>${esc(`${o.object.namespace ? `${o.object.namespace}/` : ''}${o.object.name}`)}</code>${o.release.length ? ` <span class="rel">${o.release.length} release-relevant</span>` : ''}${where ? ` <span class="note">${esc(where)}</span>` : ''}</summary>
${fields.length ? `<ul class="fields">${fields.join('')}</ul>` : ''}
${preview}
<details><summary>YAML diff</summary><pre class="diff">${unifiedHtml(o.unified)}</pre></details>
</details>`;
}

/** What the applied commit changed: `kgitops diff -o json` of the previous applied commit and it. */
function changeSection(c: AppDetails['change']): string {
  if (!c) return '';
  if (c.recalling) return '<h2>Last applied change</h2><p class="note">Rendering the commit applied before this one again, to show what changed (this controller did not apply it itself)…</p>';
  if (!c.change) return `<h2>Last applied change</h2><p class="note">${esc(c.note ?? 'Not known.')}</p>`;
  const r: DiffResult = c.change;
  const { added, removed, changed } = r.counts;
  const shown = r.objects.slice(0, CHANGE_LIMIT);
  return `<h2>Last applied change</h2>
<p>${esc(r.base.label)} → <strong>${esc(r.head.label)}</strong>: ${added + removed + changed === 0 ? `no change to the rendered objects (${r.unchanged})` : `${changed} changed, ${added} added, ${removed} removed, ${r.unchanged} unchanged`}.
<span class="note">Fields marked <span class="rel">release</span> change what a release does (image, replicas, strategy, partition, paused, gates).${r.base.sha && r.head.sha ? ` In a checkout: <code>kgitops diff --base ${esc(r.base.sha.slice(0, 12))} --head ${esc(r.head.sha.slice(0, 12))}</code>.` : ''}</span></p>
${shown.map(objectChange).join('\n')}
${r.objects.length > shown.length ? `<p class="note">${r.objects.length - shown.length} more object(s): see the JSON API or kgitops diff.</p>` : ''}`;
}

/** An App's fleet release: its waves with their gates, each cluster's commit, and the actions. */
function fleetSection(key: string, f: FleetStatus): string {
  const r = f.release;
  const short = (c: string | undefined) => (c ? `<code>${esc(c.slice(0, 12))}</code>` : '-');
  const live = r.phase === 'Progressing' || r.phase === 'Paused';
  const button = (action: string, label: string, confirm: string, wave?: number) => `<button type="button" data-fleet="1" data-action="${action}" data-app="${esc(key)}"${wave !== undefined ? ` data-wave="${wave}"` : ''} data-confirm="${esc(confirm)}">${esc(label)}</button>`;
  const actions = live ? `<div class="actions" role="group" aria-label="Fleet release actions">
${button('approve', `Approve wave ${r.wave + 1}`, `Approve wave ${r.wave + 1} (${r.waves[r.wave]?.name}) of fleet release ${r.id}?`, r.wave + 1)}
${r.phase === 'Paused' ? button('resume', 'Resume fleet', `Resume fleet release ${r.id}?`) : button('pause', 'Pause fleet', `Pause fleet release ${r.id}?`)}
${button('abort', 'Abort fleet', `Abort fleet release ${r.id}? The clusters that got commit ${r.commit.slice(0, 12)} go back to what they ran before.`)}
</div>` : '';
  const waves = r.waves.map((w, i) => {
    const state = w.doneAt ? 'done' : w.startedAt ? 'current' : 'waiting';
    const gates = Object.entries(w.gates).map(([, g]) => `<li>${statusChip(g.status)} ${esc(g.message)}</li>`).join('');
    return `<li class="step ${state === 'current' || (i === r.wave && live) ? 'current' : state === 'done' ? 'done' : ''}" data-wave="${i + 1}"><h4 style="margin:0">Wave ${i + 1} of ${r.waves.length}: ${esc(w.name)} <span class="note">${esc(w.doneAt ? 'done' : w.startedAt ? 'rolling out' : i === r.wave && live ? 'waiting on its gates' : 'waiting')}</span></h4>
<span class="note">${esc((w.members ?? []).join(', ') || (w.startedAt ? 'no cluster' : 'clusters fixed when it starts'))}</span>${gates ? `<ul class="gates">${gates}</ul>` : ''}${r.approvals.filter((a) => a.wave === i).map((a) => `<br><span class="note">approved by ${esc(a.by)} at ${time(a.at)}</span>`).join('')}</li>`;
  }).join('');
  return `<h2>Fleet</h2>
<section class="release" aria-label="Fleet release ${esc(r.id)}" data-fleet-release="${esc(r.id)}">
<h3>fleet release <code>${esc(r.id)}</code> ${statusChip(r.phase)} <span class="note">wave ${r.wave + 1} of ${r.waves.length}</span></h3>
${r.pause ? `<p>${statusChip('Paused')} ${esc(r.pause.reason)} <span class="note">(${esc(r.pause.by)}, ${time(r.pause.at)})</span></p>` : ''}
${actions}
<ol class="steps">${waves}</ol>
<div class="wrap"><table><thead><tr><th scope="col">Cluster</th><th scope="col">Wave</th><th scope="col">Gets</th><th scope="col">Runs</th><th scope="col">Sync</th><th scope="col">Health</th><th scope="col">Waiting on</th></tr></thead><tbody>
${f.clusters.map((c) => `<tr><td>${esc(c.name)}</td><td>${esc(c.wave ?? '-')}</td><td>${short(c.target)}</td><td>${short(c.commit)}</td><td>${statusChip(c.reachable ? c.sync ?? 'Unknown' : 'Unreachable')}</td><td>${statusChip(c.health ?? 'Unknown')}</td><td>${esc(c.waitingOn ?? '-')}${(c.errors ?? []).map((e) => `<br><span class="error">${esc(e)}</span>`).join('')}</td></tr>`).join('\n') || '<tr><td colspan="7" class="note">No registered cluster: add Secrets labelled kgitops.io/cluster in the controller\'s namespace.</td></tr>'}
</tbody></table></div>
${(f.problems ?? []).map((p) => `<p class="error">${esc(p)}</p>`).join('')}
</section>`;
}

/** One App: its state, releases, objects by kind, reconciles, errors and drift corrections. */
export function appMain(app: AppObject, d: AppDetails): string {
  const { status: s, releases, error: readError } = d;
  const key = `${app.metadata.namespace}/${app.metadata.name}`;
  const st = app.status ?? {};
  const objects = s?.objects ?? [];
  const byKind = new Map<string, typeof objects>();
  for (const o of objects) byKind.set(o.kind, [...(byKind.get(o.kind) ?? []), o]);
  const errors = s?.status?.errors ?? [];
  const history = s?.history ?? [];
  const drift = history.flatMap((h) => (h.drift ?? []).map((d) => ({ ...d, time: h.time, commit: h.commit })));
  return `<h1>App ${esc(key)}</h1>
<p>${statusChip(st.sync ?? 'Unknown')} ${statusChip(st.health ?? 'Unknown')} commit <code>${esc(st.commit ?? '-')}</code> · ${esc(app.spec.source.repo)}${app.spec.source.path ? ` <code>${esc(app.spec.source.path)}</code>` : ''}${st.heldBy ? ` · held by ${esc(st.heldBy.replica)} (shard ${esc(st.heldBy.shard)})` : ''}</p>
<p>${esc(st.message ?? '')}</p>
${readError ? `<p class="error">${esc(readError)}</p>` : ''}
${(st.heldBack ?? []).map((h) => `<p class="s-warn">${esc(`held back: ${h.workload}`)}: ${esc(h.reason ?? '')}</p>`).join('')}
${fleetOf(app) ? fleetSection(key, fleetOf(app)!) : ''}
<h2>Releases</h2>
${releases.length ? releases.map((r) => releaseSection(key, r)).join('\n') : '<p class="note">No release in this App\'s workloads.</p>'}
${errors.length ? `<h2>Errors of the last reconcile</h2><ul>${errors.map((e) => `<li class="error"><code>${esc(e.rule)}</code> ${esc(e.message)}${e.source ? ` <span class="mono">${esc(e.source)}</span>` : ''}${e.constructPath ? ` construct <code>${esc(e.constructPath)}</code>` : ''}${e.object ? ` · ${esc(`${e.object.kind} ${e.object.namespace ? `${e.object.namespace}/` : ''}${e.object.name ?? ''}`)}` : ''}${e.path ? ` <code>${esc(e.path)}</code>` : ''}${e.hint ? `<br><span class="note">${esc(e.hint)}</span>` : ''}</li>`).join('')}</ul>` : ''}
${changeSection(d.change)}
<h2>Objects (${objects.length})</h2>
${[...byKind].sort(([a], [b]) => a.localeCompare(b)).map(([kind, list]) => `<details open><summary><strong>${esc(kind)}</strong> (${list.length})</summary><div class="wrap"><table><thead><tr><th scope="col">Name</th><th scope="col">Health</th><th scope="col">Message</th></tr></thead><tbody>${list.map((o) => `<tr><td>${esc(`${o.namespace ? `${o.namespace}/` : ''}${o.name}`)}</td><td>${statusChip(o.health)}</td><td>${esc(o.message)}</td></tr>`).join('')}</tbody></table></div></details>`).join('\n') || '<p class="note">None recorded yet.</p>'}
<h2>Reconciles</h2>
<div class="wrap"><table><thead><tr><th scope="col">Time</th><th scope="col">Commit</th><th scope="col">Result</th><th scope="col">Changes</th><th scope="col" class="opt">Message</th></tr></thead><tbody>
${history.map((h) => `<tr><td>${time(h.time)}</td><td class="mono">${esc(h.commit.slice(0, 12))}</td><td>${statusChip(h.result)}</td><td>${esc(h.changes.created)} created, ${esc(h.changes.updated)} updated, ${esc(h.changes.pruned)} pruned${h.changes.driftCorrected ? `, ${esc(h.changes.driftCorrected)} drift corrected` : ''}</td><td class="opt">${esc(h.message)}</td></tr>`).join('\n') || '<tr><td colspan="5" class="note">None yet.</td></tr>'}
</tbody></table></div>
<h2>Drift corrections</h2>
${drift.length ? `<ul>${drift.map((d) => `<li>${time(d.time)} <code>${esc(d.id)}</code>: ${esc(d.fields.join(', ') || 'changed')} by ${esc(d.managers.join(', ') || 'unknown')}, restored to git's</li>`).join('')}</ul>` : '<p class="note">None in the recorded reconciles.</p>'}`;
}
