/**
 * The built-in policy pack. In a repo with `policies/`, every rule is on (as an error) unless
 * turned off with `false`, except `sidecarRegistries`, which needs a list of registries; each
 * takes options. A repo without `policies/` gets the same rules as warnings only.
 *
 *   export default policySet({
 *     builtin: { disruptionBudget: { above: 5 }, sidecarRegistries: { registries: ['registry.example.com'] } },
 *   });
 */
import { type IntOrPercent, parseIntOrPercent, scaledValue } from '../../dsl/arithmetic.js';
import { ANNOTATION_RELEASE_PLAN, type GateSpec } from '../../dsl/release.js';
import { fieldChanges } from '../diff/fields.js';
import { getPath, readPlan, releaseKind } from '../release/plan.js';
import { previewRelease, scaleFromSpec } from '../release/preview.js';
import type { KubeObject } from '../cluster/types.js';
import { definePolicy, type Policy } from './api.js';
import { containersOf, podLabels, podTemplates, replicasOf, selectorMatches } from './pods.js';

type Severity = 'error' | 'warning';
interface Common { readonly severity?: Severity }

export interface BuiltinPolicyConfig {
  /** No `:latest`, no untagged image: a digest, or a tag that matches `tagPattern`. */
  readonly imagesPinned?: false | (Common & {
    /** Tags taken as immutable. @default a version: `1.2`, `v1.2.3`, `2.14.1-alpine` */
    readonly tagPattern?: RegExp;
  });
  /** Every container sets these requests and limits. */
  readonly resources?: false | (Common & {
    /** @default ['cpu', 'memory'] */
    readonly requests?: readonly string[];
    /** @default ['memory'] */
    readonly limits?: readonly string[];
  });
  /** maxUnavailable of an update (CloneSet, Advanced StatefulSet and DaemonSet, SidecarSet, Deployment) stays at or below `max`. */
  readonly maxUnavailable?: false | (Common & {
    /** A count or a percentage of the replicas. @default '50%' */
    readonly max?: IntOrPercent;
  });
  /** A release plan passes a gate that verifies the new version before it updates more than `beyond` of the pods. */
  readonly releaseGated?: false | (Common & {
    /** @default '50%' */
    readonly beyond?: `${number}%`;
    /** Gates that count as verifying. @default ['bake', 'metric', 'http', 'approval'] */
    readonly gates?: readonly GateSpec['type'][];
    /** Also flag workloads that can release (CloneSet, Advanced StatefulSet/DaemonSet, SidecarSet, UnitedDeployment) but have no plan. @default false */
    readonly requirePlan?: boolean;
  });
  /** SidecarSet images come from these registries (off unless given). */
  readonly sidecarRegistries?: false | (Common & {
    /** Registry hosts, optionally with a path prefix: `registry.example.com`, `ghcr.io/acme`. */
    readonly registries: readonly string[];
  });
  /** Workloads above `above` replicas are covered by a PodUnavailableBudget or a PodDisruptionBudget of the same app. */
  readonly disruptionBudget?: false | (Common & {
    /** @default 3 */
    readonly above?: number;
  });
  /** An InPlaceOnly workload only changes images (and pod labels and annotations, which Kruise also updates in place). */
  readonly inPlaceOnlyImages?: false | Common;
}

export const BUILTIN_POLICY_KEYS = ['imagesPinned', 'resources', 'maxUnavailable', 'releaseGated', 'sidecarRegistries', 'disruptionBudget', 'inPlaceOnlyImages'] as const satisfies readonly (keyof BuiltinPolicyConfig)[];

/** The name each built-in rule reports under (`policy/<name>`), by its configuration key. */
export const BUILTIN_POLICY_NAMES = {
  imagesPinned: 'images-pinned',
  resources: 'resources',
  maxUnavailable: 'max-unavailable',
  releaseGated: 'release-gated',
  sidecarRegistries: 'sidecar-registries',
  disruptionBudget: 'disruption-budget',
  inPlaceOnlyImages: 'in-place-only-images',
} as const satisfies Record<(typeof BUILTIN_POLICY_KEYS)[number], string>;

/** `1.2`, `v1.2.3`, `2.14.1-alpine`, `1.25.3-r1`: a version, not a moving name like `stable`. */
export const DEFAULT_TAG_PATTERN = /^v?\d+(\.\d+)+([-+._][0-9A-Za-z.-]+)?$/;

/** Splits an image reference into name, tag and digest (`host:port/repo:tag@sha256:…`). */
export function parseImage(image: string): { name: string; tag?: string; digest?: string } {
  const at = image.indexOf('@');
  const digest = at >= 0 ? image.slice(at + 1) : undefined;
  const rest = at >= 0 ? image.slice(0, at) : image;
  const slash = rest.lastIndexOf('/');
  const colon = rest.lastIndexOf(':');
  const tag = colon > slash ? rest.slice(colon + 1) : undefined;
  const name = colon > slash ? rest.slice(0, colon) : rest;
  return { name, ...(tag !== undefined ? { tag } : {}), ...(digest ? { digest } : {}) };
}

/** The registry of an image name, as Docker resolves it (`docker.io` for `nginx` and `library/nginx`). */
export function registryOf(name: string): string {
  const first = name.split('/')[0];
  return name.includes('/') && (first.includes('.') || first.includes(':') || first === 'localhost') ? first : 'docker.io';
}

/** An image name with its registry, as Docker resolves it: `nginx` and `docker.io/nginx` are `docker.io/library/nginx`. */
function fullImageName(name: string): string {
  const registry = registryOf(name);
  const path = name.startsWith(`${registry}/`) ? name.slice(registry.length + 1) : name;
  if (registry !== 'docker.io') return `${registry}/${path}`;
  return `docker.io/${path.includes('/') ? path : `library/${path}`}`;
}

function imagesPinned(c: Exclude<BuiltinPolicyConfig['imagesPinned'], false | undefined>): Policy {
  const pattern = c.tagPattern ?? DEFAULT_TAG_PATTERN;
  return definePolicy({
    name: BUILTIN_POLICY_NAMES.imagesPinned,
    description: 'images are pinned: a digest or an immutable version tag, never :latest',
    severity: c.severity ?? 'error',
    check(o, ctx) {
      for (const { path, container } of containersOf(o.manifest)) {
        const image = container.image;
        if (typeof image !== 'string') continue;
        const ref = parseImage(image);
        if (ref.digest) continue;
        const where = { path: `${path}.image` };
        if (ref.tag === undefined) {
          ctx.report(`container "${container.name}" uses image "${image}" without a tag, which means :latest`, { ...where, hint: 'pin a version tag (for example :1.4.2) or a digest (@sha256:...)' });
        } else if (ref.tag === 'latest') {
          ctx.report(`container "${container.name}" uses "${image}": :latest moves, so the same manifest can run different code`, { ...where, hint: 'pin a version tag (for example :1.4.2) or a digest (@sha256:...)' });
        } else if (!pattern.test(ref.tag)) {
          ctx.report(`container "${container.name}" uses tag "${ref.tag}", which does not look immutable (expected ${pattern})`, { ...where, hint: 'use a version tag or a digest, or set builtin.imagesPinned.tagPattern' });
        }
      }
    },
  });
}

function resources(c: Exclude<BuiltinPolicyConfig['resources'], false | undefined>): Policy {
  const requests = c.requests ?? ['cpu', 'memory'];
  const limits = c.limits ?? ['memory'];
  return definePolicy({
    name: BUILTIN_POLICY_NAMES.resources,
    description: `containers set requests (${requests.join(', ')}) and limits (${limits.join(', ')})`,
    severity: c.severity ?? 'error',
    check(o, ctx) {
      for (const { path, container } of containersOf(o.manifest)) {
        const missing = [
          ...requests.filter((r) => container.resources?.requests?.[r] === undefined).map((r) => `requests.${r}`),
          ...limits.filter((r) => container.resources?.limits?.[r] === undefined).map((r) => `limits.${r}`),
        ];
        if (missing.length) {
          ctx.report(`container "${container.name}" sets no ${missing.join(', ')}`, {
            path: `${path}.resources`,
            hint: 'without requests the scheduler packs pods blindly, without a memory limit one pod can starve its node',
          });
        }
      }
    },
  });
}

function maxUnavailablePath(m: Record<string, any>): string | undefined {
  switch (m.kind) {
    case 'CloneSet': return 'spec.updateStrategy.maxUnavailable';
    case 'SidecarSet': return 'spec.updateStrategy.maxUnavailable';
    case 'StatefulSet': return 'spec.updateStrategy.rollingUpdate.maxUnavailable';
    case 'DaemonSet': return 'spec.updateStrategy.rollingUpdate.maxUnavailable';
    case 'Deployment': return 'spec.strategy.rollingUpdate.maxUnavailable';
    default: return undefined;
  }
}

function maxUnavailable(c: Exclude<BuiltinPolicyConfig['maxUnavailable'], false | undefined>): Policy {
  const max = c.max ?? '50%';
  const parsedMax = parseIntOrPercent(max);
  if (!parsedMax) throw new Error(`builtin.maxUnavailable.max: "${String(max)}" is not a count or a percentage`);
  return definePolicy({
    name: BUILTIN_POLICY_NAMES.maxUnavailable,
    description: `maxUnavailable of an update is at most ${max}`,
    severity: c.severity ?? 'error',
    check(o, ctx) {
      const path = maxUnavailablePath(o.manifest);
      if (!path) return;
      const value = getPath(o.manifest, path.split('.')) as IntOrPercent | string | undefined;
      if (value === undefined) return; // the defaults (Kruise 20%, Kubernetes 25% or 1) are within any sane bound
      const parsed = parseIntOrPercent(value);
      if (!parsed) return; // malformed: the schema and rule checks report it
      const replicas = replicasOf(o.manifest);
      let over: boolean;
      if (parsed.kind === parsedMax.kind) over = parsed.value > parsedMax.value;
      else if (replicas !== undefined) over = scaledValue(value, replicas, true) > scaledValue(max, replicas, true);
      else over = false; // a count against a percentage of nodes or pods only a cluster knows
      if (over) {
        ctx.report(`maxUnavailable ${JSON.stringify(value)} lets more pods go down at once than the allowed ${JSON.stringify(max)}${replicas !== undefined ? ` (of ${replicas} replicas)` : ''}`, {
          path, hint: `lower it to ${JSON.stringify(max)} or less; a bad version then takes down fewer pods before the release stops`,
        });
      }
    },
  });
}

function releaseGated(c: Exclude<BuiltinPolicyConfig['releaseGated'], false | undefined>): Policy {
  const beyond = c.beyond ?? '50%';
  const fraction = Number(beyond.slice(0, -1)) / 100;
  const verifying = new Set<string>(c.gates ?? ['bake', 'metric', 'http', 'approval']);
  const gateList = orList([...verifying]);
  const examples = orList([...verifying].map((g) => GATE_EXAMPLES[g] ?? g));
  return definePolicy({
    name: BUILTIN_POLICY_NAMES.releaseGated,
    description: `release plans verify the new version (${[...verifying].join(', ')}) before they update more than ${beyond} of the pods`,
    severity: c.severity ?? 'error',
    check(o, ctx) {
      const m = o.manifest as unknown as KubeObject;
      if (!releaseKind(m)) return;
      if (m.metadata.annotations?.[ANNOTATION_RELEASE_PLAN] === undefined) {
        if (c.requirePlan && podTemplatesOrSidecars(m)) {
          ctx.report('has no release plan: a new version reaches every pod at once, gated by nothing', { path: 'metadata', hint: 'add `release: Release.canary(...)` (or Release.steps) to the construct' });
        }
        return;
      }
      let plan;
      try { plan = readPlan(m); } catch { return; } // a broken plan is reported by the release rules
      if (!plan) return;
      const { scale, source } = scaleFromSpec(m);
      const preview = previewRelease(m, scale, source);
      if (!preview || scale.total === 0) return;
      // A step's gates (and the plan's `always` gates) are checked after its pods are updated:
      // they verify the new version only for the steps that follow.
      const alwaysVerifies = (plan.always ?? []).some((g) => verifying.has(g.type));
      let verified = false;
      for (const [i, step] of preview.steps.entries()) {
        if (step.updated / scale.total > fraction + 1e-9 && !verified) {
          ctx.report(`step ${i + 1} (${step.target}) updates ${step.updated} of ${scale.total} pods, but no earlier step at or below ${beyond} has a ${gateList} gate`, {
            path: `metadata.annotations["${ANNOTATION_RELEASE_PLAN}"]`,
            hint: `add a step at or below ${beyond} with ${examples}`,
          });
          return;
        }
        if (alwaysVerifies || plan.steps[i].gates.some((g) => verifying.has(g.type))) verified = true;
      }
    },
  });
}

const GATE_EXAMPLES: Record<string, string> = {
  podsReady: 'Gate.podsReady(...)', bake: 'Gate.bake(...)', metric: 'Gate.metric(...)', http: 'Gate.http(...)',
  approval: 'Gate.approval()', window: 'Gate.window.allow(...)',
};

/** `a`, `a or b`, `a, b or c`. */
function orList(items: readonly string[]): string {
  return items.length <= 1 ? items.join('') : `${items.slice(0, -1).join(', ')} or ${items[items.length - 1]}`;
}

function podTemplatesOrSidecars(m: Record<string, any>): boolean {
  return m.kind === 'SidecarSet' || podTemplates(m).length > 0;
}

function sidecarRegistries(c: Exclude<BuiltinPolicyConfig['sidecarRegistries'], false | undefined>): Policy {
  const allowed = c.registries.map((r) => r.replace(/\/+$/, ''));
  if (allowed.length === 0) throw new Error('builtin.sidecarRegistries.registries is empty: name at least one registry, or set sidecarRegistries: false');
  return definePolicy({
    name: BUILTIN_POLICY_NAMES.sidecarRegistries,
    description: `SidecarSet images come from ${allowed.join(', ')}`,
    severity: c.severity ?? 'error',
    kinds: ['SidecarSet'],
    check(o, ctx) {
      for (const { path, container } of containersOf(o.manifest)) {
        if (typeof container.image !== 'string') continue;
        const { name } = parseImage(container.image);
        const full = fullImageName(name);
        if (!allowed.some((r) => full === r || full.startsWith(`${r}/`))) {
          ctx.report(`sidecar "${container.name}" image "${container.image}" is not from an allowed registry (${allowed.join(', ')})`, {
            path: `${path}.image`, hint: 'a SidecarSet injects into every matching pod: mirror the image to an allowed registry',
          });
        }
      }
    },
  });
}

const BUDGETED_KINDS = new Set(['CloneSet', 'StatefulSet', 'Deployment', 'UnitedDeployment']);

function disruptionBudget(c: Exclude<BuiltinPolicyConfig['disruptionBudget'], false | undefined>): Policy {
  const above = c.above ?? 3;
  return definePolicy({
    name: BUILTIN_POLICY_NAMES.disruptionBudget,
    description: `workloads with more than ${above} replicas are covered by a PodUnavailableBudget or PodDisruptionBudget`,
    severity: c.severity ?? 'error',
    check(o, ctx) {
      const m = o.manifest;
      if (!BUDGETED_KINDS.has(m.kind)) return;
      const replicas = replicasOf(m);
      if (replicas === undefined || replicas <= above) return;
      const ns = m.metadata.namespace;
      const labels = podLabels(m);
      const group = m.apiVersion.includes('/') ? m.apiVersion.split('/')[0] : '';
      // The budgets only (objectsOf sorts the set by kind once per evaluation): scanning every
      // object for every workload made 10,000 CloneSets cost 10^8 comparisons.
      const covered = ctx.objectsOf('PodUnavailableBudget').some(({ manifest: b }) => {
        if (b.metadata.namespace !== ns) return false;
        const ref = b.spec?.targetRef;
        if (ref) return ref.kind === m.kind && ref.name === m.metadata.name && (ref.apiVersion ?? '').split('/')[0] === group;
        return selectorMatches(b.spec?.selector, labels);
      }) || ctx.objectsOf('PodDisruptionBudget').some(({ manifest: b }) => b.metadata.namespace === ns && selectorMatches(b.spec?.selector as Record<string, any>, labels));
      if (!covered) {
        ctx.report(`has ${replicas} replicas and no PodUnavailableBudget or PodDisruptionBudget covers its pods`, {
          path: 'spec.replicas',
          hint: 'add a PodUnavailableBudget (policy.kruise.io, targetRef to this workload) or a PodDisruptionBudget selecting its pod labels',
        });
      }
    },
  });
}

function inPlaceOnly(m: Record<string, any>): boolean {
  if (m.kind === 'CloneSet') return m.spec?.updateStrategy?.type === 'InPlaceOnly';
  if (m.kind === 'StatefulSet' && m.apiVersion.startsWith('apps.kruise.io/')) return m.spec?.updateStrategy?.rollingUpdate?.podUpdatePolicy === 'InPlaceOnly';
  return false;
}

/**
 * The template without what Kruise updates in place: pod metadata (its InPlaceOnly check compares
 * template.spec only) and the images of containers. Init containers ran already: changing their
 * image is not an in-place update, and Kruise rejects it.
 */
function withoutInPlaceFields(t: Record<string, any>): Record<string, any> {
  const copy = structuredClone(t);
  delete copy.metadata;
  if (Array.isArray(copy.spec?.containers)) for (const c of copy.spec.containers) delete c.image;
  return copy;
}

function inPlaceOnlyImages(c: Exclude<BuiltinPolicyConfig['inPlaceOnlyImages'], false | undefined>): Policy {
  return definePolicy({
    name: BUILTIN_POLICY_NAMES.inPlaceOnlyImages,
    description: 'an InPlaceOnly workload changes only images (and pod labels and annotations)',
    severity: c.severity ?? 'error',
    check(o, ctx) {
      if (!inPlaceOnly(o.manifest) || !ctx.previous) return;
      const now = podTemplates(o.manifest)[0];
      const before = podTemplates(ctx.previous.manifest)[0];
      if (!now || !before) return;
      const changes = fieldChanges(withoutInPlaceFields(before.template), withoutInPlaceFields(now.template), now.path);
      if (changes.length) {
        ctx.report(`uses InPlaceOnly but changes ${changes.length === 1 ? '' : `${changes.length} fields besides container images, first `}${changes[0].path}: Kruise can only update container images in place (not init containers), and rejects the update`, {
          path: changes[0].path,
          hint: 'ship the image change alone, or switch to InPlaceIfPossible for this release (it recreates pods when it must)',
        });
      }
    },
  });
}

/** The built-in policies as configured (defaults for what the config leaves out). */
export function builtinPolicies(config: BuiltinPolicyConfig = {}): Policy[] {
  const on = <T>(v: false | T | undefined, dflt: T | undefined): T | undefined => (v === false ? undefined : v ?? dflt);
  const out: Policy[] = [];
  const a = on(config.imagesPinned, {}); if (a) out.push(imagesPinned(a));
  const b = on(config.resources, {}); if (b) out.push(resources(b));
  const d = on(config.maxUnavailable, {}); if (d) out.push(maxUnavailable(d));
  const e = on(config.releaseGated, {}); if (e) out.push(releaseGated(e));
  const f = on(config.sidecarRegistries, undefined); if (f) out.push(sidecarRegistries(f));
  const g = on(config.disruptionBudget, {}); if (g) out.push(disruptionBudget(g));
  const h = on(config.inPlaceOnlyImages, {}); if (h) out.push(inPlaceOnlyImages(h));
  return out;
}

/**
 * The pack for a repo without `policies/`: every default rule, as warnings. Policies a team
 * has not adopted advise; they never block an apply.
 */
export function advisoryPolicies(): Policy[] {
  const warn = BUILTIN_POLICY_KEYS.filter((k) => k !== 'sidecarRegistries').map((k) => [k, { severity: 'warning' }]);
  return builtinPolicies(Object.fromEntries(warn) as BuiltinPolicyConfig);
}
