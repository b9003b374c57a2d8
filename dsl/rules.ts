/**
 * The rules OpenKruise v1.9.0's validating webhooks enforce on create, checked statically on a
 * plain manifest. The constructs run them at synth time (so an error names the construct and the
 * line that declared it) and `engine/validate` runs them on any YAML, so both paths agree.
 *
 * As the webhook does, each check first applies the defaults of Kruise's mutating webhook (a
 * UnitedDeployment without replicas has 1; a BroadcastJob pod without restartPolicy gets Always,
 * which is then rejected). A few checks are deliberately stricter than Kruise where Kruise
 * accepts a value it cannot act on (a DaemonSet maxUnavailable of "abc" silently counts as 0),
 * and Kruise rejects things only when the child object is created (a UnitedDeployment's subset
 * CloneSet, a cron job's Job): those are checked here too, because a release would stall on them.
 * Rules that need the cluster (pods to delete, other SidecarSets, ControllerRevisions) or that
 * apply to updates only are out of scope.
 */
import { joinPath } from './diagnostics.js';
import { CronError, isValidTimeZone, parseCron } from './cron.js';
import { ANNOTATION_RELEASE_PLAN, validateReleasePlan } from './release.js';
import { FLEET_PLAN_API_VERSION, FLEET_PLAN_KIND, validateFleetPlan } from './fleet-plan.js';

export interface RuleDiagnostic {
  readonly severity: 'error' | 'warning';
  readonly rule: string;
  readonly path: string;
  readonly message: string;
  readonly hint?: string;
}

type Json = any;

class Report {
  readonly out: RuleDiagnostic[] = [];
  error(rule: string, path: string, message: string, hint?: string): void {
    this.out.push({ severity: 'error', rule, path, message, ...(hint ? { hint } : {}) });
  }
  warn(rule: string, path: string, message: string, hint?: string): void {
    this.out.push({ severity: 'warning', rule, path, message, ...(hint ? { hint } : {}) });
  }
}

const CHECKS: Record<string, (m: Json, r: Report) => void> = {
  'apps.kruise.io/v1alpha1/CloneSet': checkCloneSet,
  'apps.kruise.io/v1alpha1/StatefulSet': checkAdvancedStatefulSet,
  'apps.kruise.io/v1beta1/StatefulSet': checkAdvancedStatefulSet,
  'apps.kruise.io/v1alpha1/DaemonSet': (m, r) => checkDaemonSet(m, r, true),
  'apps.kruise.io/v1beta1/DaemonSet': (m, r) => checkDaemonSet(m, r, false),
  'apps.kruise.io/v1alpha1/SidecarSet': checkSidecarSet,
  'apps.kruise.io/v1beta1/SidecarSet': checkSidecarSet,
  'apps.kruise.io/v1alpha1/UnitedDeployment': checkUnitedDeployment,
  'apps.kruise.io/v1alpha1/BroadcastJob': checkBroadcastJob,
  'apps.kruise.io/v1beta1/BroadcastJob': checkBroadcastJob,
  'apps.kruise.io/v1alpha1/AdvancedCronJob': checkAdvancedCronJob,
  'apps.kruise.io/v1beta1/AdvancedCronJob': checkAdvancedCronJob,
  'policy.kruise.io/v1alpha1/PodUnavailableBudget': checkPodUnavailableBudget,
  'apps.kruise.io/v1alpha1/WorkloadSpread': checkWorkloadSpread,
  'apps.kruise.io/v1alpha1/PersistentPodState': checkPersistentPodState,
  'apps.kruise.io/v1alpha1/ImagePullJob': (m, r) => checkPullJob(m, r, false),
  'apps.kruise.io/v1beta1/ImagePullJob': (m, r) => checkPullJob(m, r, false),
  'apps.kruise.io/v1alpha1/ImageListPullJob': (m, r) => checkPullJob(m, r, true),
  'apps.kruise.io/v1beta1/ImageListPullJob': (m, r) => checkPullJob(m, r, true),
  'apps.kruise.io/v1alpha1/PodProbeMarker': checkPodProbeMarker,
  'apps.kruise.io/v1alpha1/ResourceDistribution': checkResourceDistribution,
  'apps.kruise.io/v1alpha1/ContainerRecreateRequest': checkContainerRecreateRequest,
  'apps.kruise.io/v1alpha1/EphemeralJob': checkEphemeralJob,
  'apps.kruise.io/v1alpha1/NodeImage': checkKruiseManaged,
  'apps.kruise.io/v1beta1/NodeImage': checkKruiseManaged,
  'apps.kruise.io/v1alpha1/NodePodProbe': checkKruiseManaged,
  [`${FLEET_PLAN_API_VERSION}/${FLEET_PLAN_KIND}`]: checkFleetPlan,
};

/** A fleet's waves (dsl/fleet.ts): read by the controller, never applied; no CRD, so all of it is checked here. */
function checkFleetPlan(m: Json, r: Report): void {
  for (const p of validateFleetPlan(m.spec)) r.error('fleet/plan', p.path ? `spec.${p.path}` : 'spec', p.message);
}

/** Runs Kruise's static webhook rules for one manifest (other kinds: no diagnostics). */
export function checkRules(manifest: Json): RuleDiagnostic[] {
  const check = manifest && CHECKS[`${manifest.apiVersion}/${manifest.kind}`];
  if (!check) return [];
  const r = new Report();
  check(manifest, r);
  checkReleasePlan(manifest, r);
  return r.out;
}

const RELEASABLE = new Set(['CloneSet', 'StatefulSet', 'DaemonSet', 'SidecarSet', 'UnitedDeployment']);

/** A release plan (kgitops.io/release-plan) must be valid for the kind it is attached to. */
function checkReleasePlan(m: Json, r: Report): void {
  const raw = m.metadata?.annotations?.[ANNOTATION_RELEASE_PLAN];
  if (raw === undefined) return;
  const base = `metadata.annotations["${ANNOTATION_RELEASE_PLAN}"]`;
  if (!RELEASABLE.has(m.kind)) {
    r.error('release/kind', base, `release plans drive CloneSets, Advanced StatefulSets and DaemonSets, SidecarSets and UnitedDeployments, not ${m.kind}`);
    return;
  }
  let plan: unknown;
  try {
    plan = JSON.parse(raw);
  } catch (e) {
    r.error('release/plan', base, `the release plan is not JSON: ${(e as Error).message}`);
    return;
  }
  const subsets = (m.spec?.topology?.subsets ?? []).map((s: Json) => s?.name);
  for (const p of validateReleasePlan(plan, m.kind, subsets)) {
    r.error('release/plan', p.path ? `${base}.${p.path}` : base, p.message);
  }
}

// ---------------------------------------------------------------------------------------------
// Values

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const KRUISE_JOB_NAME = /^[a-zA-Z0-9-]+$/;
const MAX_INT32 = 2 ** 31 - 1;

/** Appends dotted keys to a JSON path: at('spec', 'template.spec') -> spec.template.spec. */
function at(base: string, dotted: string): string {
  return dotted.split('.').reduce(joinPath, base);
}

const isInt = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v);

function fmt(v: unknown): string {
  return JSON.stringify(v);
}

/**
 * Kruise's own int-or-percent (CloneSet fields): an integer, or a decimal percentage, scaled
 * against `total` and rounded up. Returns undefined (and reports) when malformed.
 */
function kruiseScaled(r: Report, rule: string, path: string, v: unknown, total: number): number | undefined {
  if (v === undefined) return undefined;
  if (isInt(v)) return v;
  if (typeof v === 'string' && /^\d+(\.\d+)?%$/.test(v)) return Math.ceil((parseFloat(v) * total) / 100);
  r.error(rule, path, `${fmt(v)} is not a number of pods or a percentage`, 'write an integer such as 2 or a percentage such as "20%"');
  return undefined;
}

/**
 * Kubernetes' int-or-percent (ValidatePositiveIntOrPercent): a non-negative integer or a
 * `<digits>%` string. Returns the integer or percent value, or undefined when malformed.
 */
function k8sIntOrPercent(r: Report, rule: string, path: string, v: unknown, opts: { max100?: boolean } = {}): number | undefined {
  if (v === undefined) return undefined;
  if (isInt(v)) {
    if (v < 0) {
      r.error(rule, path, `must not be negative, got ${v}`);
      return undefined;
    }
    return v;
  }
  if (typeof v === 'string' && /^\d+%$/.test(v)) {
    const p = Number(v.slice(0, -1));
    if (opts.max100 && p > 100) {
      r.error(rule, path, `must not be more than 100%, got ${fmt(v)}`);
      return undefined;
    }
    return p;
  }
  r.error(rule, path, `${fmt(v)} is not a number of pods or a whole percentage`, 'write an integer such as 2 or a percentage such as "20%"');
  return undefined;
}

function nonNegative(r: Report, rule: string, path: string, v: unknown): void {
  if (v !== undefined && isInt(v) && v < 0) r.error(rule, path, `must not be negative, got ${v}`);
}

// ---------------------------------------------------------------------------------------------
// Names, selectors, pod templates

function checkName(r: Report, m: Json, style: 'subdomain' | 'label' | 'kruise-job'): void {
  const name = m.metadata?.name;
  if (name === undefined) {
    if (!m.metadata?.generateName) r.error('object/name-required', 'metadata.name', 'metadata.name is required');
    return;
  }
  if (typeof name !== 'string') return; // the schema reports the type
  if (style === 'kruise-job') {
    if (!KRUISE_JOB_NAME.test(name) || name.length > 63) {
      r.error('object/name-invalid', 'metadata.name', `${m.kind} name ${fmt(name)} must be at most 63 letters, digits or '-'`);
    }
    return;
  }
  const ok = style === 'label' ? DNS_LABEL.test(name) && name.length <= 63 : DNS_SUBDOMAIN.test(name) && name.length <= 253;
  if (!ok) {
    r.error('object/name-invalid', 'metadata.name',
      `name ${fmt(name)} is not a valid ${style === 'label' ? 'DNS label (lowercase letters, digits and \'-\', at most 63, no dots)' : 'DNS subdomain (lowercase letters, digits, \'-\' and \'.\')'}`);
  }
}

const OPERATORS = new Set(['In', 'NotIn', 'Exists', 'DoesNotExist']);

/** Checks a label selector; returns whether it is usable for matching. */
function checkSelector(r: Report, path: string, sel: Json, what: string, opts: { required: boolean; rule?: string }): boolean {
  const rule = opts.rule ?? `${what}/selector`;
  if (sel === undefined || sel === null) {
    if (opts.required) r.error(rule, path, `a selector is required`, 'select the pods by their labels, e.g. { matchLabels: { app: "web" } }');
    return false;
  }
  const labels = Object.keys(sel.matchLabels ?? {});
  const exprs: Json[] = sel.matchExpressions ?? [];
  if (labels.length === 0 && exprs.length === 0) {
    r.error(rule, path, `an empty selector is not allowed for a ${what}`, 'an empty selector would match every pod; add matchLabels');
    return false;
  }
  let ok = true;
  exprs.forEach((e, i) => {
    const p = joinPath(joinPath(path, 'matchExpressions'), i);
    if (!OPERATORS.has(e.operator)) {
      r.error(rule, joinPath(p, 'operator'), `${fmt(e.operator)} is not a selector operator (In, NotIn, Exists, DoesNotExist)`);
      ok = false;
    } else if ((e.operator === 'In' || e.operator === 'NotIn') && !(e.values?.length > 0)) {
      r.error(rule, joinPath(p, 'values'), `values are required with operator ${e.operator}`);
      ok = false;
    } else if ((e.operator === 'Exists' || e.operator === 'DoesNotExist') && e.values?.length > 0) {
      r.error(rule, joinPath(p, 'values'), `values must be empty with operator ${e.operator}`);
      ok = false;
    }
  });
  return ok;
}

/** Whether a (valid) label selector matches a set of labels. */
export function selectorMatches(sel: Json, labels: Record<string, string> = {}): boolean {
  for (const [k, v] of Object.entries<string>(sel?.matchLabels ?? {})) if (labels[k] !== v) return false;
  for (const e of sel?.matchExpressions ?? []) {
    const has = Object.prototype.hasOwnProperty.call(labels, e.key);
    switch (e.operator) {
      case 'In': if (!has || !e.values.includes(labels[e.key])) return false; break;
      case 'NotIn': if (has && e.values.includes(labels[e.key])) return false; break;
      case 'Exists': if (!has) return false; break;
      case 'DoesNotExist': if (has) return false; break;
      default: return false;
    }
  }
  return true;
}

function checkSelectorMatchesTemplate(r: Report, what: string, sel: Json, labelsPath: string, labels: Json): void {
  if (!selectorMatches(sel, labels ?? {})) {
    r.error(`${what}/selector-mismatch`, labelsPath, 'the selector does not match the pod template labels',
      'every label in spec.selector must be set on the pod template, or the workload would not own its own pods');
  }
}

interface PodTemplateOptions {
  /** Allowed restartPolicy values after defaulting ("" becomes Always). */
  readonly restartPolicies: readonly string[];
  /** Forbid activeDeadlineSeconds (controllers that run pods forever). */
  readonly forbidActiveDeadline?: string;
  /** Volume names provided by volumeClaimTemplates. */
  readonly claimNames?: readonly string[];
  readonly rulePrefix: string;
  /** Why the restart policy matters, for the hint. */
  readonly restartHint?: string;
}

/**
 * The parts of Kubernetes' pod template validation that a manifest can fail on, with the
 * restart-policy and deadline rules each Kruise controller adds.
 */
function checkPodTemplate(r: Report, path: string, template: Json, o: PodTemplateOptions): void {
  const spec = template?.spec;
  const specPath = joinPath(path, 'spec');
  if (!spec) {
    r.error('pod/spec-required', specPath, 'the pod template has no spec');
    return;
  }
  const restart = spec.restartPolicy || 'Always';
  if (!['Always', 'OnFailure', 'Never'].includes(restart)) {
    r.error('pod/restart-policy', joinPath(specPath, 'restartPolicy'), `${fmt(restart)} is not a restart policy (Always, OnFailure, Never)`);
  } else if (!o.restartPolicies.includes(restart)) {
    r.error(`${o.rulePrefix}/restart-policy`, joinPath(specPath, 'restartPolicy'),
      `restartPolicy must be ${o.restartPolicies.join(' or ')}, got ${fmt(restart)}${spec.restartPolicy ? '' : ' (the default when unset)'}`,
      o.restartHint);
  }
  if (o.forbidActiveDeadline && spec.activeDeadlineSeconds !== undefined) {
    r.error(`${o.rulePrefix}/active-deadline`, joinPath(specPath, 'activeDeadlineSeconds'),
      `activeDeadlineSeconds is not supported in a ${o.forbidActiveDeadline} pod template`, 'its pods run until replaced; remove the field');
  }
  const volumes = new Set<string>(o.claimNames ?? []);
  const volumeNames = new Set<string>();
  (spec.volumes ?? []).forEach((v: Json, i: number) => {
    const p = joinPath(joinPath(joinPath(specPath, 'volumes'), i), 'name');
    if (typeof v?.name !== 'string') return;
    if (!DNS_LABEL.test(v.name)) r.error('pod/volume-name', p, `volume name ${fmt(v.name)} is not a DNS label`);
    if (volumeNames.has(v.name)) r.error('pod/volume-name', p, `volume name ${fmt(v.name)} is used twice`);
    volumeNames.add(v.name);
    volumes.add(v.name);
  });
  if (!Array.isArray(spec.containers) || spec.containers.length === 0) {
    r.error('pod/containers-required', joinPath(specPath, 'containers'), 'the pod template has no containers');
  }
  checkContainers(r, specPath, [['initContainers', spec.initContainers], ['containers', spec.containers]], volumes);
}

function checkContainers(r: Report, specPath: string, lists: [string, Json[] | undefined][], volumes: Set<string>): void {
  const names = new Set<string>();
  for (const [field, list] of lists) {
    (list ?? []).forEach((c: Json, i: number) => {
      const p = joinPath(joinPath(specPath, field), i);
      if (typeof c?.name === 'string') {
        if (!DNS_LABEL.test(c.name)) r.error('pod/container-name', joinPath(p, 'name'), `container name ${fmt(c.name)} is not a DNS label`);
        if (names.has(c.name)) r.error('pod/container-name', joinPath(p, 'name'), `container name ${fmt(c.name)} is used twice`);
        names.add(c.name);
      }
      if (!c?.image) r.error('pod/image-required', joinPath(p, 'image'), 'the container has no image');
      (c?.volumeMounts ?? []).forEach((vm: Json, j: number) => {
        if (vm?.name !== undefined && !volumes.has(vm.name)) {
          r.error('pod/volume-mount', joinPath(joinPath(joinPath(p, 'volumeMounts'), j), 'name'),
            `mounts volume ${fmt(vm.name)}, which the pod does not declare`, 'add the volume to the pod (or a volumeClaimTemplate of that name)');
        }
      });
    });
  }
}

// ---------------------------------------------------------------------------------------------
// Update priority and scatter (shared by CloneSet, Advanced StatefulSet and SidecarSet)

function checkPriority(r: Report, path: string, ps: Json): void {
  if (!ps) return;
  const weights: Json[] = ps.weightPriority ?? [];
  const orders: Json[] = ps.orderPriority ?? [];
  if (weights.length > 0 && orders.length > 0) {
    r.error('priority/exclusive', path, 'weightPriority and orderPriority cannot be used together', 'choose UpdatePriority.weight(...) or UpdatePriority.order(...)');
    return;
  }
  weights.forEach((w, i) => {
    const p = joinPath(joinPath(path, 'weightPriority'), i);
    if (!isInt(w.weight) || w.weight < 0 || w.weight > 100) r.error('priority/weight', joinPath(p, 'weight'), `weight must be between 0 and 100, got ${fmt(w.weight)}`);
    const sel = w.matchSelector;
    if (!sel || (Object.keys(sel.matchLabels ?? {}).length === 0 && !(sel.matchExpressions?.length > 0))) {
      r.error('priority/selector', joinPath(p, 'matchSelector'), 'the selector of a weight priority must not be empty');
    }
  });
  orders.forEach((o, i) => {
    if (!o.orderedKey) r.error('priority/order-key', joinPath(joinPath(joinPath(path, 'orderPriority'), i), 'orderedKey'), 'the order key must not be empty');
  });
}

function checkScatter(r: Report, path: string, ss: Json): void {
  const seen = new Set<string>();
  (ss ?? []).forEach((s: Json, i: number) => {
    const p = joinPath(path, i);
    if (!s.key) r.error('scatter/key', joinPath(p, 'key'), 'the scatter key must not be empty');
    const k = `${s.key}=${s.value}`;
    if (seen.has(k)) r.error('scatter/duplicate', p, `scatter rule ${k} appears twice`);
    seen.add(k);
  });
}

// ---------------------------------------------------------------------------------------------
// CloneSet

const CLONESET_TYPES = ['ReCreate', 'InPlaceIfPossible', 'InPlaceOnly'];

function checkCloneSet(m: Json, r: Report): void {
  checkName(r, m, 'subdomain');
  checkCloneSetSpec(r, 'spec', m.spec ?? {}, { selectorRequired: true });
}

/** CloneSet spec rules; also applied to a UnitedDeployment's cloneSetTemplate (replicas from the UD). */
function checkCloneSetSpec(r: Report, base: string, spec: Json, o: { selectorRequired: boolean; replicas?: number }): void {
  const at = (...keys: string[]) => keys.reduce(joinPath, base);
  const replicas: number = o.replicas ?? spec.replicas ?? 1;
  if (isInt(spec.replicas) && spec.replicas < 0) r.error('cloneset/replicas', at('replicas'), `replicas must not be negative, got ${spec.replicas}`);
  if (o.selectorRequired || spec.selector) {
    if (checkSelector(r, at('selector'), spec.selector, 'cloneset', { required: o.selectorRequired })) {
      checkSelectorMatchesTemplate(r, 'cloneset', spec.selector, at('template', 'metadata', 'labels'), spec.template?.metadata?.labels);
    }
  }
  checkPodTemplate(r, at('template'), spec.template, {
    rulePrefix: 'cloneset', restartPolicies: ['Always'], forbidActiveDeadline: 'CloneSet',
    claimNames: (spec.volumeClaimTemplates ?? []).map((t: Json) => t?.metadata?.name).filter(Boolean),
    restartHint: 'CloneSet pods run until replaced',
  });
  const toDelete: string[] = spec.scaleStrategy?.podsToDelete ?? [];
  const dup = toDelete.filter((n, i) => toDelete.indexOf(n) !== i);
  if (dup.length) r.error('cloneset/pods-to-delete', at('scaleStrategy', 'podsToDelete'), `pods listed twice: ${[...new Set(dup)].join(', ')}`);

  const us = spec.updateStrategy ?? {};
  const type = us.type ?? 'ReCreate';
  if (!CLONESET_TYPES.includes(type)) {
    r.error('cloneset/update-type', at('updateStrategy', 'type'), `update type must be ReCreate, InPlaceIfPossible or InPlaceOnly, got ${fmt(type)}`,
      type === 'OnDelete' ? 'CloneSet v1alpha1 has no OnDelete; pause the update instead (updateStrategy.paused)' : undefined);
  }
  const partition = kruiseScaled(r, 'cloneset/partition', at('updateStrategy', 'partition'), us.partition ?? 0, replicas);
  if (partition !== undefined && partition < 0) r.error('cloneset/partition', at('updateStrategy', 'partition'), `partition must not be negative, got ${fmt(us.partition)}`);
  checkPriority(r, at('updateStrategy', 'priorityStrategy'), us.priorityStrategy);
  checkScatter(r, at('updateStrategy', 'scatterStrategy'), us.scatterStrategy);
  const maxUnavailable = kruiseScaled(r, 'cloneset/max-unavailable', at('updateStrategy', 'maxUnavailable'), us.maxUnavailable ?? '20%', replicas);
  const maxSurge = kruiseScaled(r, 'cloneset/max-surge', at('updateStrategy', 'maxSurge'), us.maxSurge ?? 0, replicas);
  if (type === 'InPlaceOnly' && (maxSurge ?? 0) > 0) {
    r.error('cloneset/in-place-only-max-surge', at('updateStrategy', 'maxSurge'), `maxSurge must be 0 with update type InPlaceOnly, got ${fmt(us.maxSurge)}`,
      'in-place updates never create extra pods; use InPlaceIfPossible to allow surge');
  }
  if (replicas > 0 && (maxUnavailable ?? 0) < 1 && (maxSurge ?? 0) < 1) {
    r.error('cloneset/no-progress', at('updateStrategy', 'maxUnavailable'),
      `maxUnavailable (${fmt(us.maxUnavailable ?? '20%')}) and maxSurge (${fmt(us.maxSurge ?? 0)}) are both less than one pod of ${replicas}, so an update could never start`,
      'allow at least one unavailable or one surge pod');
  }
  const pds = spec.progressDeadlineSeconds;
  if (isInt(pds)) {
    if (pds < 0) r.error('cloneset/progress-deadline', at('progressDeadlineSeconds'), `progressDeadlineSeconds must not be negative, got ${pds}`);
    else if (pds !== MAX_INT32 && pds <= (spec.minReadySeconds ?? 0)) {
      r.error('cloneset/progress-deadline', at('progressDeadlineSeconds'),
        `progressDeadlineSeconds (${pds}) must be greater than minReadySeconds (${spec.minReadySeconds ?? 0})`,
        'a pod must have the chance to become available before the deadline');
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Advanced StatefulSet

const POD_UPDATE_POLICIES = ['ReCreate', 'InPlaceIfPossible', 'InPlaceOnly'];

function checkAdvancedStatefulSet(m: Json, r: Report): void {
  checkName(r, m, 'label');
  const spec = m.spec ?? {};
  checkAdvancedStatefulSetSpec(r, 'spec', spec, { selectorRequired: true });
  nonNegative(r, 'statefulset/replicas', 'spec.replicas', spec.replicas);
  (spec.reserveOrdinals ?? []).forEach((o: Json, i: number) => {
    const p = joinPath('spec.reserveOrdinals', i);
    if (isInt(o)) {
      if (o < 0) r.error('statefulset/reserve-ordinals', p, `reserved ordinal ${o} is negative`);
    } else if (typeof o !== 'string' || !/^\d+-\d+$/.test(o)) {
      r.error('statefulset/reserve-ordinals', p, `${fmt(o)} is not an ordinal or a range such as "3-5"`,
        typeof o === 'string' && /^\d+$/.test(o) ? `write a single ordinal as a number: ${o}` : undefined);
    } else {
      const [a, b] = o.split('-').map(Number);
      if (a > b) r.error('statefulset/reserve-ordinals', p, `range ${fmt(o)} starts after it ends`);
    }
  });
  const retention = spec.persistentVolumeClaimRetentionPolicy ?? {};
  for (const k of ['whenDeleted', 'whenScaled']) {
    if (retention[k] !== undefined && !['Retain', 'Delete'].includes(retention[k])) {
      r.error('statefulset/pvc-retention', `spec.persistentVolumeClaimRetentionPolicy.${k}`, `must be Retain or Delete, got ${fmt(retention[k])}`);
    }
  }
}

function checkAdvancedStatefulSetSpec(r: Report, base: string, spec: Json, o: { selectorRequired: boolean }): void {
  const at = (...keys: string[]) => keys.reduce(joinPath, base);
  const policy = spec.podManagementPolicy ?? 'OrderedReady';
  if (!['OrderedReady', 'Parallel'].includes(policy)) {
    r.error('statefulset/pod-management-policy', at('podManagementPolicy'), `must be OrderedReady or Parallel, got ${fmt(policy)}`);
  }
  const parallel = policy === 'Parallel';
  if (o.selectorRequired) {
    if (checkSelector(r, at('selector'), spec.selector, 'statefulset', { required: true })) {
      checkSelectorMatchesTemplate(r, 'statefulset', spec.selector, at('template', 'metadata', 'labels'), spec.template?.metadata?.labels);
    }
  }
  checkPodTemplate(r, at('template'), spec.template, {
    rulePrefix: 'statefulset', restartPolicies: ['Always'], forbidActiveDeadline: 'StatefulSet',
    claimNames: (spec.volumeClaimTemplates ?? []).map((t: Json) => t?.metadata?.name).filter(Boolean),
    restartHint: 'StatefulSet pods run until replaced',
  });
  const maxUnavailableRule = (path: string, v: Json) => {
    if (v === undefined) return;
    const n = k8sIntOrPercent(r, 'statefulset/max-unavailable', path, v);
    if (n === undefined) return;
    if (n < 1) r.error('statefulset/max-unavailable', path, `must be at least 1, got ${fmt(v)}`);
    else if (!parallel && v !== 1) {
      r.error('statefulset/max-unavailable-parallel', path, `maxUnavailable ${fmt(v)} needs podManagementPolicy Parallel`,
        'with OrderedReady pods update one at a time; use PodManagement.parallel({ maxUnavailable })');
    }
  };
  maxUnavailableRule(at('scaleStrategy', 'maxUnavailable'), spec.scaleStrategy?.maxUnavailable);
  const us = spec.updateStrategy ?? {};
  const type = us.type ?? 'RollingUpdate';
  if (!['RollingUpdate', 'OnDelete'].includes(type)) {
    r.error('statefulset/update-type', at('updateStrategy', 'type'), `must be RollingUpdate or OnDelete, got ${fmt(type)}`);
  }
  if (type === 'OnDelete' && us.rollingUpdate !== undefined) {
    r.error('statefulset/on-delete-rolling-update', at('updateStrategy', 'rollingUpdate'), 'rollingUpdate is only allowed with update type RollingUpdate');
    return;
  }
  const ru = us.rollingUpdate ?? {};
  if (ru.partition !== undefined && isInt(ru.partition) && ru.partition < 0) {
    r.error('statefulset/partition', at('updateStrategy', 'rollingUpdate', 'partition'), `partition must not be negative, got ${ru.partition}`);
  }
  const mrs = ru.minReadySeconds;
  if (isInt(mrs) && (mrs < 0 || mrs > 300)) {
    r.error('statefulset/min-ready', at('updateStrategy', 'rollingUpdate', 'minReadySeconds'), `minReadySeconds must be between 0 and 300, got ${mrs}`);
  }
  maxUnavailableRule(at('updateStrategy', 'rollingUpdate', 'maxUnavailable'), ru.maxUnavailable);
  const pup = ru.podUpdatePolicy ?? 'ReCreate';
  if (!POD_UPDATE_POLICIES.includes(pup)) {
    r.error('statefulset/pod-update-policy', at('updateStrategy', 'rollingUpdate', 'podUpdatePolicy'), `must be ReCreate, InPlaceIfPossible or InPlaceOnly, got ${fmt(pup)}`);
  } else if (pup !== 'ReCreate') {
    const gates: Json[] = spec.template?.spec?.readinessGates ?? [];
    if (!gates.some((g) => g?.conditionType === 'InPlaceUpdateReady')) {
      r.error('statefulset/in-place-readiness-gate', at('template', 'spec', 'readinessGates'),
        `podUpdatePolicy ${pup} needs the readiness gate InPlaceUpdateReady in the pod template`,
        'add readinessGates: [{ conditionType: InPlaceUpdateReady }] (the AdvancedStatefulSet construct adds it for you)');
    }
  }
  if (ru.unorderedUpdate !== undefined) {
    if (!parallel) {
      r.error('statefulset/unordered-update-parallel', at('updateStrategy', 'rollingUpdate', 'unorderedUpdate'),
        'unorderedUpdate (an update priority) needs podManagementPolicy Parallel');
    }
    checkPriority(r, at('updateStrategy', 'rollingUpdate', 'unorderedUpdate', 'priorityStrategy'), ru.unorderedUpdate.priorityStrategy);
  }
}

// ---------------------------------------------------------------------------------------------
// Advanced DaemonSet

function checkDaemonSet(m: Json, r: Report, v1alpha1: boolean): void {
  checkName(r, m, 'subdomain');
  const spec = m.spec ?? {};
  if (checkSelector(r, 'spec.selector', spec.selector, 'daemonset', { required: true })) {
    checkSelectorMatchesTemplate(r, 'daemonset', spec.selector, 'spec.template.metadata.labels', spec.template?.metadata?.labels);
  }
  checkPodTemplate(r, 'spec.template', spec.template, {
    rulePrefix: 'daemonset', restartPolicies: ['Always'], forbidActiveDeadline: 'DaemonSet', restartHint: 'DaemonSet pods run until replaced',
  });
  nonNegative(r, 'daemonset/min-ready', 'spec.minReadySeconds', spec.minReadySeconds);
  nonNegative(r, 'daemonset/revision-history', 'spec.revisionHistoryLimit', spec.revisionHistoryLimit);
  if (spec.lifecycle?.inPlaceUpdate !== undefined) {
    r.error('daemonset/in-place-hook', 'spec.lifecycle.inPlaceUpdate', 'the inPlaceUpdate lifecycle hook is not supported for DaemonSets yet');
  }
  const us = spec.updateStrategy ?? {};
  const type = us.type ?? 'RollingUpdate';
  if (!['RollingUpdate', 'OnDelete'].includes(type)) r.error('daemonset/update-type', 'spec.updateStrategy.type', `must be RollingUpdate or OnDelete, got ${fmt(type)}`);
  if (type !== 'RollingUpdate') return;
  const ru = us.rollingUpdate ?? {};
  const base = 'spec.updateStrategy.rollingUpdate';
  const ruType = ru.rollingUpdateType || 'Standard';
  const types = v1alpha1 ? ['Standard', 'Surging', 'InPlaceIfPossible'] : ['Standard', 'InPlaceIfPossible'];
  if (!types.includes(ruType)) r.error('daemonset/rolling-update-type', `${base}.rollingUpdateType`, `must be ${types.join(', ')}, got ${fmt(ruType)}`);
  // Kruise defaults maxUnavailable=1/maxSurge=0 only when both are unset (and turns Surging into surge 1).
  let mu = ru.maxUnavailable;
  let ms = ru.maxSurge;
  if (mu === undefined && ms === undefined) {
    if (ruType === 'Surging') ms = 1; else mu = 1;
  }
  const muN = mu === undefined ? 0 : k8sIntOrPercent(r, 'daemonset/max-unavailable', `${base}.maxUnavailable`, mu, { max100: true }) ?? 0;
  const msN = ms === undefined ? 0 : k8sIntOrPercent(r, 'daemonset/max-surge', `${base}.maxSurge`, ms, { max100: true }) ?? 0;
  if (muN > 0 && msN > 0) {
    r.error('daemonset/surge-and-unavailable', `${base}.maxSurge`, `maxSurge must be 0 when maxUnavailable is non-zero (got maxSurge ${fmt(ms)}, maxUnavailable ${fmt(mu)})`,
      'either replace pods with surge (maxSurge > 0, maxUnavailable 0) or in place of the old pod (maxUnavailable > 0)');
  } else if (muN === 0 && msN === 0) {
    r.error('daemonset/no-progress', `${base}.maxUnavailable`, 'maxUnavailable and maxSurge are both 0, so an update could never start',
      'set maxUnavailable (e.g. 1) or maxSurge');
  }
  if (ruType === 'InPlaceIfPossible' && msN > 0) {
    r.error('daemonset/in-place-max-surge', `${base}.maxSurge`, `maxSurge must be 0 with rollingUpdateType InPlaceIfPossible, got ${fmt(ms)}`);
  }
  if (ru.partition !== undefined) k8sIntOrPercent(r, 'daemonset/partition', `${base}.partition`, ru.partition, { max100: true });
}

// ---------------------------------------------------------------------------------------------
// SidecarSet

function checkSidecarSet(m: Json, r: Report): void {
  checkName(r, m, 'kruise-job');
  if (m.metadata?.namespace !== undefined) {
    r.error('sidecarset/namespace', 'metadata.namespace', 'a SidecarSet is cluster-scoped and has no namespace',
      'select the pods\' namespace with spec.namespace or spec.namespaceSelector');
  }
  const spec = m.spec ?? {};
  const us = spec.updateStrategy ?? {};
  const type = us.type ?? 'RollingUpdate';
  if (spec.namespace !== undefined && m.apiVersion === 'apps.kruise.io/v1alpha1') {
    r.warn('sidecarset/namespace-field', 'spec.namespace',
      'spec.namespace exists only in v1alpha1: with Kruise 1.9 storing SidecarSets as v1beta1, server-side apply rejects it unless the conversion webhook is installed',
      `use namespaceSelector: { matchLabels: { kubernetes.io/metadata.name: ${JSON.stringify(spec.namespace)} } }`);
  }
  checkSelector(r, 'spec.selector', spec.selector, 'sidecarset', { required: true });
  if (spec.namespaceSelector !== undefined) checkSelector(r, 'spec.namespaceSelector', spec.namespaceSelector, 'sidecarset', { required: false });
  const containers: Json[] = spec.containers ?? [];
  const inits: Json[] = spec.initContainers ?? [];
  if (containers.length === 0 && inits.length === 0) {
    r.error('sidecarset/containers-required', 'spec', 'a SidecarSet needs at least one container or init container');
  }
  if (type === 'RollingUpdate' && inits.some((c) => c?.restartPolicy === 'Always')) {
    r.error('sidecarset/native-sidecar-upgrade', 'spec.updateStrategy',
      'init containers with restartPolicy Always cannot be upgraded in place', 'use SidecarSetUpdateStrategy.notUpdate()');
  }
  const rev = spec.injectionStrategy?.revision;
  if (rev && !rev.revisionName && !rev.customVersion) {
    r.error('sidecarset/injection-revision', 'spec.injectionStrategy.revision', 'set revisionName or customVersion (or remove revision)');
  }
  if (type === 'RollingUpdate') {
    const p = us.partition;
    const partitionSet = (isInt(p) && p !== 0) || typeof p === 'string';
    if (partitionSet && us.selector) {
      r.error('sidecarset/selector-and-partition', 'spec.updateStrategy',
        `an update selector cannot be combined with a partition (got partition ${fmt(p)})`,
        'upgrade either the pods a selector picks, or all but a partition of them');
    }
    if (us.selector !== undefined) checkSelector(r, 'spec.updateStrategy.selector', us.selector, 'sidecarset', { required: false });
    k8sIntOrPercent(r, 'sidecarset/partition', 'spec.updateStrategy.partition', p);
    const mu = k8sIntOrPercent(r, 'sidecarset/max-unavailable', 'spec.updateStrategy.maxUnavailable', us.maxUnavailable);
    if (mu === 0) {
      r.warn('sidecarset/max-unavailable-zero', 'spec.updateStrategy.maxUnavailable', 'maxUnavailable is 0, so no sidecar will ever be upgraded',
        'Kruise accepts 0 but then waits forever; allow at least 1');
    }
    checkPriority(r, 'spec.updateStrategy.priorityStrategy', us.priorityStrategy);
    checkScatter(r, 'spec.updateStrategy.scatterStrategy', us.scatterStrategy);
  }
  const volumes = new Set<string>((spec.volumes ?? []).map((v: Json) => v?.name));
  checkContainers(r, 'spec', [['initContainers', inits], ['containers', containers]], volumes);
  for (const [field, list] of [['containers', containers], ['initContainers', inits]] as const) {
    list.forEach((c, i) => {
      const p = joinPath(joinPath('spec', field), i);
      if (c?.podInjectPolicy !== undefined && !['BeforeAppContainer', 'AfterAppContainer'].includes(c.podInjectPolicy)) {
        r.error('sidecarset/inject-policy', joinPath(p, 'podInjectPolicy'), `must be BeforeAppContainer or AfterAppContainer, got ${fmt(c.podInjectPolicy)}`);
      }
      if (c?.shareVolumePolicy?.type !== undefined && !['enabled', 'disabled'].includes(c.shareVolumePolicy.type)) {
        r.error('sidecarset/share-volume-policy', at(p, 'shareVolumePolicy.type'), `must be enabled or disabled, got ${fmt(c.shareVolumePolicy.type)}`);
      }
      const rp = c?.resourcesPolicy;
      if (rp && (c.resources?.limits || c.resources?.requests)) {
        r.error('sidecarset/resources-policy', joinPath(p, 'resourcesPolicy'), 'resourcesPolicy and resources cannot be set together');
      } else if (rp) {
        const rpp = joinPath(p, 'resourcesPolicy');
        if (field === 'initContainers' && c.restartPolicy !== 'Always') {
          r.error('sidecarset/resources-policy', rpp, 'an init container takes a resourcesPolicy only as a native sidecar (restartPolicy: Always)');
        }
        try {
          if (rp.targetContainersNameRegex !== undefined) new RegExp(rp.targetContainersNameRegex);
        } catch {
          r.error('sidecarset/resources-policy', joinPath(rpp, 'targetContainersNameRegex'), `${fmt(rp.targetContainersNameRegex)} is not a regular expression`);
        }
        const ex = rp.resourcesExpr ?? {};
        if (!ex.limits && !ex.requests) {
          r.error('sidecarset/resources-policy', joinPath(rpp, 'resourcesExpr'), 'the resources policy computes nothing: set requests or limits (cpu, memory)',
            'e.g. requests: { cpu: "max(cpu*50%, 50m)", memory: "100Mi" }');
        }
      }
      (c?.transferEnv ?? []).forEach((t: Json, j: number) => {
        const fp = t?.sourceContainerNameFrom?.fieldRef?.fieldPath;
        if (fp !== undefined && !/^metadata\.(labels|annotations)\['[^']+'\]$/.test(fp)) {
          r.error('sidecarset/transfer-env', at(joinPath(at(p, 'transferEnv'), j), 'sourceContainerNameFrom.fieldRef.fieldPath'),
            `${fmt(fp)} is not supported: only metadata.labels['<key>'] or metadata.annotations['<key>']`);
        }
      });
    });
  }
  const seen = new Set<string>();
  (spec.patchPodMetadata ?? []).forEach((pm: Json, i: number) => {
    const p = joinPath('spec.patchPodMetadata', i);
    if (!pm?.annotations || Object.keys(pm.annotations).length === 0) r.error('sidecarset/patch-pod-metadata', p, 'patchPodMetadata needs annotations');
    for (const k of Object.keys(pm?.annotations ?? {})) {
      if (seen.has(k)) r.error('sidecarset/patch-pod-metadata', joinPath(joinPath(p, 'annotations'), k), `annotation ${k} is patched twice`);
      seen.add(k);
    }
  });
}

// ---------------------------------------------------------------------------------------------
// UnitedDeployment

/** The template fields of a UnitedDeployment (exactly one is set). */
export const UD_TEMPLATES = ['statefulSetTemplate', 'advancedStatefulSetTemplate', 'cloneSetTemplate', 'deploymentTemplate'];

function checkUnitedDeployment(m: Json, r: Report): void {
  checkName(r, m, 'subdomain');
  const spec = m.spec ?? {};
  // Kruise's mutating webhook sets replicas to 1 when unset.
  const replicas: number = spec.replicas ?? 1;
  nonNegative(r, 'uniteddeployment/replicas', 'spec.replicas', spec.replicas);
  const selectorOk = checkSelector(r, 'spec.selector', spec.selector, 'uniteddeployment', { required: true });
  const present = UD_TEMPLATES.filter((t) => spec.template?.[t] !== undefined);
  if (present.length === 0) {
    r.error('uniteddeployment/template', 'spec.template', 'set exactly one of statefulSetTemplate, advancedStatefulSetTemplate, cloneSetTemplate or deploymentTemplate');
  } else if (present.length > 1) {
    r.error('uniteddeployment/template', 'spec.template', `set only one template, got ${present.join(' and ')}`);
  }
  const adaptive = spec.topology?.scheduleStrategy?.type === 'Adaptive';
  for (const t of present) {
    const base = `spec.template.${t}`;
    const tpl = spec.template[t];
    const tspec = tpl.spec ?? {};
    if (selectorOk) checkSelectorMatchesTemplate(r, 'uniteddeployment', spec.selector, `${base}.metadata.labels`, tpl.metadata?.labels);
    if (t !== 'cloneSetTemplate' && tspec.replicas !== undefined) {
      r.error('uniteddeployment/template-replicas', `${base}.spec.replicas`, `replicas in ${t} are not used`, 'set replicas on the UnitedDeployment and its subsets');
    }
    if ((t === 'statefulSetTemplate' || t === 'advancedStatefulSetTemplate') && tspec.updateStrategy?.type === 'RollingUpdate'
      && tspec.updateStrategy?.rollingUpdate?.partition !== undefined) {
      r.error('uniteddeployment/template-partition', `${base}.spec.updateStrategy.rollingUpdate.partition`,
        `partition in ${t} is not used`, 'set per-subset partitions in spec.updateStrategy.manualUpdate.partitions');
    }
    if (adaptive && spec.topology.scheduleStrategy.adaptive?.reserveUnschedulablePods && t.toLowerCase().includes('statefulset')) {
      r.error('uniteddeployment/reserve-unschedulable', 'spec.topology.scheduleStrategy', 'reserving unschedulable pods works only with Deployment and CloneSet templates');
    }
    // The subset workloads inherit the UD selector; check the template as the child controller will.
    const withSelector = { ...tspec, selector: spec.selector };
    if (t === 'cloneSetTemplate') {
      checkCloneSetSpec(r, `${base}.spec`, { ...withSelector, updateStrategy: { ...tspec.updateStrategy, partition: undefined } }, { selectorRequired: false, replicas });
    } else if (t === 'advancedStatefulSetTemplate') {
      checkAdvancedStatefulSetSpec(r, `${base}.spec`, withSelector, { selectorRequired: false });
    } else {
      checkPodTemplate(r, `${base}.spec.template`, tspec.template, {
        rulePrefix: 'uniteddeployment', restartPolicies: ['Always'], forbidActiveDeadline: t === 'deploymentTemplate' ? 'Deployment' : 'StatefulSet',
        claimNames: (tspec.volumeClaimTemplates ?? []).map((v: Json) => v?.metadata?.name).filter(Boolean),
      });
      if (selectorOk) checkSelectorMatchesTemplate(r, 'uniteddeployment', spec.selector, `${base}.spec.template.metadata.labels`, tspec.template?.metadata?.labels);
    }
  }
  checkSubsets(r, spec, replicas, adaptive);
  const ust = spec.updateStrategy ?? {};
  if (ust.type !== undefined && ust.type !== 'Manual') r.error('uniteddeployment/update-type', 'spec.updateStrategy.type', `the only update type is Manual, got ${fmt(ust.type)}`);
  const names = new Set((spec.topology?.subsets ?? []).map((s: Json) => s?.name));
  for (const k of Object.keys(ust.manualUpdate?.partitions ?? {})) {
    if (!names.has(k)) {
      r.error('uniteddeployment/partition-unknown-subset', joinPath('spec.updateStrategy.manualUpdate.partitions', k),
        `partition for subset ${fmt(k)}, which does not exist`, `subsets are: ${[...names].join(', ') || 'none'}`);
    }
  }
}

/** Kruise's ParseSubsetReplicas: an int, or an integer percentage of the UD's replicas rounded half up. */
function subsetReplicas(r: Report, path: string, v: Json, udReplicas: number): number | undefined {
  if (v === undefined) return undefined;
  if (isInt(v)) {
    if (v < 0) { r.error('uniteddeployment/subset-replicas', path, `must not be negative, got ${v}`); return undefined; }
    return v;
  }
  if (typeof v !== 'string' || !/^\d+%$/.test(v)) {
    r.error('uniteddeployment/subset-replicas', path, `${fmt(v)} is not a number of pods or a whole percentage`, 'write an integer such as 3 or a percentage such as "50%"');
    return undefined;
  }
  const p = Number(v.slice(0, -1));
  if (p > 100) { r.error('uniteddeployment/subset-replicas', path, `must be between 0% and 100%, got ${fmt(v)}`); return undefined; }
  return Math.floor((udReplicas * p) / 100 + 0.5);
}

function checkSubsets(r: Report, spec: Json, replicas: number, adaptive: boolean): void {
  const subsets: Json[] = spec.topology?.subsets ?? [];
  const names = new Set<string>();
  let anyReplicas = false;
  let anyMinMax = false;
  let sum = 0;
  let allSet = subsets.length > 0;
  let sumMin = 0;
  let sumMax = 0;
  let allMax = subsets.length > 0;
  subsets.forEach((s, i) => {
    const p = joinPath('spec.topology.subsets', i);
    if (!s?.name) r.error('uniteddeployment/subset-name', joinPath(p, 'name'), 'a subset needs a name');
    else if (!DNS_LABEL.test(s.name)) r.error('uniteddeployment/subset-name', joinPath(p, 'name'), `subset name ${fmt(s.name)} is not a DNS label`);
    else if (names.has(s.name)) r.error('uniteddeployment/subset-name', joinPath(p, 'name'), `subset name ${fmt(s.name)} is used twice`);
    names.add(s?.name);
    if (s?.replicas !== undefined && adaptive) {
      r.error('uniteddeployment/adaptive-replicas', joinPath(p, 'replicas'), 'adaptive scheduling uses minReplicas/maxReplicas, not replicas');
    }
    const n = subsetReplicas(r, joinPath(p, 'replicas'), s?.replicas, replicas);
    const min = subsetReplicas(r, joinPath(p, 'minReplicas'), s?.minReplicas, replicas) ?? 0;
    const max = subsetReplicas(r, joinPath(p, 'maxReplicas'), s?.maxReplicas, replicas);
    if (s?.replicas !== undefined) { anyReplicas = true; sum += n ?? 0; } else allSet = false;
    if (s?.minReplicas !== undefined || s?.maxReplicas !== undefined) anyMinMax = true;
    if (max !== undefined && min > max) {
      r.error('uniteddeployment/subset-min-max', joinPath(p, 'minReplicas'), `minReplicas (${min}) is more than maxReplicas (${max})`);
    }
    sumMin += min;
    sumMax += max ?? 1_000_000;
    if (s?.maxReplicas === undefined) allMax = false;
  });
  if (anyReplicas && anyMinMax) {
    r.error('uniteddeployment/replicas-and-min-max', 'spec.topology.subsets', 'subsets cannot mix replicas with minReplicas/maxReplicas');
    return;
  }
  if (anyMinMax) {
    if (allMax) r.error('uniteddeployment/min-max', 'spec.topology.subsets', 'at least one subset must leave maxReplicas unset, to take the remaining pods');
    if (sumMin > sumMax) r.error('uniteddeployment/min-max', 'spec.topology.subsets', `the minReplicas add up to ${sumMin}, more than the maxReplicas (${sumMax})`);
    return;
  }
  const implicit = spec.replicas === undefined ? ' (unset, so Kruise uses 1)' : '';
  if (sum > replicas) {
    r.error('uniteddeployment/subset-sum', 'spec.topology.subsets', `the subsets ask for ${sum} pods, more than the UnitedDeployment's replicas ${replicas}${implicit}`,
      'raise spec.replicas or lower the subsets\' replicas');
  } else if (allSet && sum !== replicas) {
    r.error('uniteddeployment/subset-sum', 'spec.topology.subsets', `every subset sets replicas and they add up to ${sum}, not the UnitedDeployment's replicas ${replicas}${implicit}`,
      'make them add up, or leave one subset without replicas to take the rest');
  }
}

// ---------------------------------------------------------------------------------------------
// BroadcastJob and AdvancedCronJob

function checkBroadcastJobSpec(r: Report, base: string, spec: Json): void {
  const cp = spec.completionPolicy ?? {};
  if (cp.type === 'Never') {
    for (const f of ['ttlSecondsAfterFinished', 'activeDeadlineSeconds']) {
      if (cp[f] !== undefined) {
        r.error('broadcastjob/never-completes', joinPath(joinPath(base, 'completionPolicy'), f),
          `${f} needs completion policy Always: a job that never completes has no end to count from`);
      }
    }
  }
  const labels = spec.template?.metadata?.labels ?? {};
  for (const k of ['broadcastjob-name', 'broadcastjob-controller-uid']) {
    if (labels[k]) r.error('broadcastjob/reserved-label', at(base, 'template.metadata.labels'), `pod label ${k} is set by Kruise and must not be preset`);
  }
  checkPodTemplate(r, joinPath(base, 'template'), spec.template, {
    rulePrefix: 'broadcastjob', restartPolicies: ['Never', 'OnFailure'],
    restartHint: 'job pods must finish; set restartPolicy Never or OnFailure (the BroadcastJob construct defaults to Never)',
  });
}

function checkBroadcastJob(m: Json, r: Report): void {
  checkName(r, m, 'kruise-job');
  checkBroadcastJobSpec(r, 'spec', m.spec ?? {});
}

function checkAdvancedCronJob(m: Json, r: Report): void {
  checkName(r, m, 'kruise-job');
  const spec = m.spec ?? {};
  const schedule = spec.schedule;
  if (typeof schedule === 'string') {
    if (!schedule.trim()) {
      r.error('cronjob/schedule', 'spec.schedule', 'the schedule is empty', 'write a cron expression such as "30 3 * * *" or a descriptor such as "@daily"');
    } else {
      try {
        parseCron(schedule);
      } catch (e) {
        if (!(e instanceof CronError)) throw e;
        r.error('cronjob/schedule', 'spec.schedule', `invalid schedule ${fmt(schedule)}: ${e.message}`,
          'five fields: minute hour day-of-month month day-of-week, e.g. "30 3 * * *"; or @hourly, @daily, @weekly, @monthly, @every 1h');
      }
      if (schedule.includes('TZ') && spec.timeZone !== undefined) {
        r.error('cronjob/time-zone-twice', 'spec.schedule', 'the schedule has a TZ= prefix and spec.timeZone is set too', 'keep one of them');
      }
    }
  }
  for (const f of ['startingDeadlineSeconds', 'successfulJobsHistoryLimit', 'failedJobsHistoryLimit']) nonNegative(r, 'cronjob/negative', `spec.${f}`, spec[f]);
  if (spec.timeZone !== undefined) {
    const tz = spec.timeZone;
    if (typeof tz !== 'string' || tz === '') r.error('cronjob/time-zone', 'spec.timeZone', 'timeZone must not be empty (leave it unset for UTC)');
    else if (tz.toLowerCase() === 'local') r.error('cronjob/time-zone', 'spec.timeZone', 'timeZone must name an explicit IANA zone, not Local');
    else if (!isValidTimeZone(tz)) r.error('cronjob/time-zone', 'spec.timeZone', `unknown time zone ${fmt(tz)}`, 'use an IANA name such as Europe/Berlin or UTC');
  }
  const t = spec.template ?? {};
  const kinds = ['jobTemplate', 'broadcastJobTemplate', 'imageListPullJobTemplate'].filter((k) => t[k] !== undefined);
  if (kinds.length !== 1) {
    r.error('cronjob/template', 'spec.template', kinds.length === 0
      ? 'set one template: jobTemplate or broadcastJobTemplate'
      : `set only one template, got ${kinds.join(' and ')}`);
  }
  if (t.jobTemplate) {
    checkPodTemplate(r, 'spec.template.jobTemplate.spec.template', t.jobTemplate.spec?.template, {
      rulePrefix: 'cronjob', restartPolicies: ['Never', 'OnFailure'],
      restartHint: 'the Job the controller creates would be rejected; set restartPolicy Never or OnFailure',
    });
  }
  if (t.broadcastJobTemplate) checkBroadcastJobSpec(r, 'spec.template.broadcastJobTemplate.spec', t.broadcastJobTemplate.spec ?? {});
  if (t.imageListPullJobTemplate) checkPullJob(t.imageListPullJobTemplate.spec ?? {}, r, true, 'spec.template.imageListPullJobTemplate.spec');
}

/**
 * A PodUnavailableBudget needs pods to cover and a budget: without maxUnavailable or minAvailable
 * it protects nothing (what a dropped `minAvailable: '80%'` used to leave), and with both it is
 * ambiguous which one holds.
 */
function checkPodUnavailableBudget(m: Json, r: Report): void {
  const spec = m.spec ?? {};
  if (spec.selector === undefined && spec.targetRef === undefined) {
    r.error('pub/no-target', 'spec', 'the PodUnavailableBudget covers no pods: it has neither selector nor targetRef',
      'set targetRef to the workload ({ apiVersion, kind, name }) or a selector of its pods');
  }
  if (spec.maxUnavailable === undefined && spec.minAvailable === undefined) {
    r.error('pub/no-budget', 'spec', 'the PodUnavailableBudget has no budget: neither maxUnavailable nor minAvailable is set, so it protects nothing',
      'set one of them, e.g. maxUnavailable: 1 or minAvailable: "80%"');
  } else if (spec.maxUnavailable !== undefined && spec.minAvailable !== undefined) {
    r.error('pub/two-budgets', 'spec.minAvailable', 'maxUnavailable and minAvailable are both set; a PodUnavailableBudget takes one of them', 'keep one');
  }
  k8sIntOrPercent(r, 'pub/budget', 'spec.maxUnavailable', spec.maxUnavailable, { max100: true });
  k8sIntOrPercent(r, 'pub/budget', 'spec.minAvailable', spec.minAvailable, { max100: true });
}

// ---------------------------------------------------------------------------------------------
// Kinds beyond the workloads (pkg/webhook/<kind>/validating and the CRR mutating webhook, v1.9.0)

/** A targetRef's group and kind, or a report that it is incomplete. */
function checkTargetRef(r: Report, rule: string, path: string, ref: Json, what: string): { group: string; kind: string } | undefined {
  if (!ref || !ref.apiVersion || !ref.kind || !ref.name) {
    r.error(rule, path, `the ${what} needs a targetRef with apiVersion, kind and name`, 'point it at the workload: { apiVersion: "apps.kruise.io/v1alpha1", kind: "CloneSet", name: "web" }');
    return undefined;
  }
  const i = String(ref.apiVersion).lastIndexOf('/');
  return { group: i === -1 ? '' : String(ref.apiVersion).slice(0, i), kind: ref.kind };
}

const WS_TARGETS: Record<string, string[]> = {
  CloneSet: ['apps.kruise.io'], Deployment: ['apps'], ReplicaSet: ['apps'], Job: ['batch'], StatefulSet: ['apps', 'apps.kruise.io'],
};

function checkWorkloadSpread(m: Json, r: Report): void {
  const spec = m.spec ?? {};
  const target = checkTargetRef(r, 'ws/target', 'spec.targetRef', spec.targetRef, 'WorkloadSpread');
  if (target && !WS_TARGETS[target.kind]?.includes(target.group)) {
    r.warn('ws/target-kind', 'spec.targetRef', `Kruise spreads ${target.kind} (${target.group || 'core'}) only if kruise-manager's custom workload whitelist lists it`,
      'the built-in targets are CloneSet, Deployment, ReplicaSet, Job and StatefulSet (apps/v1 or Advanced)');
  }
  const subsets: Json[] = Array.isArray(spec.subsets) ? spec.subsets : [];
  if (subsets.length === 0) r.error('ws/subsets', 'spec.subsets', 'a WorkloadSpread needs at least one subset');
  const names = new Set<string>();
  let firstType: 'int' | 'percent' | undefined;
  let percentSum = 0;
  subsets.forEach((s, i) => {
    const p = joinPath('spec.subsets', i);
    if (!s?.name) r.error('ws/subset-name', joinPath(p, 'name'), 'the subset has no name');
    else if (names.has(s.name)) r.error('ws/subset-name', joinPath(p, 'name'), `subset name ${fmt(s.name)} is used twice`);
    else names.add(s.name);
    const max = s?.maxReplicas;
    if (max === undefined || max === null) return;
    const type = typeof max === 'string' ? 'percent' : 'int';
    const mp = joinPath(p, 'maxReplicas');
    if (firstType === undefined) firstType = type;
    else if (type !== firstType) r.error('ws/max-replicas', mp, 'every subset\'s maxReplicas must be of the same type (all counts or all percentages)');
    if (target?.kind === 'StatefulSet' && type !== 'int') r.error('ws/max-replicas', mp, 'a StatefulSet is spread by counts only: maxReplicas must be an integer');
    const v = k8sIntOrPercent(r, 'ws/max-replicas', mp, max);
    if (type === 'percent' && v !== undefined) {
      percentSum += v;
      if (percentSum > 100) r.error('ws/max-replicas', mp, `the subsets' maxReplicas add up to more than 100% (${percentSum}%)`);
    }
  });
  const last = subsets.at(-1);
  if (firstType === 'percent' && percentSum < 100 && last?.maxReplicas !== undefined && last?.maxReplicas !== null) {
    r.error('ws/max-replicas', 'spec.subsets[0].maxReplicas', `percentages of maxReplicas must add up to 100%, got ${percentSum}%`,
      'raise them, or leave the last subset without maxReplicas so that it takes the rest');
  }
  const ss = spec.scheduleStrategy ?? {};
  if (ss.type !== undefined && ss.type !== '' && ss.type !== 'Fixed' && ss.type !== 'Adaptive') {
    r.error('ws/schedule-strategy', 'spec.scheduleStrategy.type', `${fmt(ss.type)} is not a schedule strategy (Fixed, Adaptive)`);
  }
  if (ss.adaptive) {
    if (ss.type !== 'Adaptive') r.error('ws/schedule-strategy', 'spec.scheduleStrategy.type', 'scheduleStrategy.adaptive needs type: Adaptive');
    if (subsets.length > 1 && last?.maxReplicas !== undefined && last?.maxReplicas !== null) {
      r.error('ws/schedule-strategy', 'spec.scheduleStrategy.adaptive', 'with the Adaptive strategy the last subset must not have maxReplicas', 'it takes the pods the others have no room for');
    }
    const most = subsets.length > 1 ? Math.trunc(295 / (subsets.length - 1)) : MAX_INT32;
    const secs = ss.adaptive.rescheduleCriticalSeconds;
    if (isInt(secs) && (secs < 0 || secs > most)) {
      r.error('ws/schedule-strategy', 'spec.scheduleStrategy.adaptive.rescheduleCriticalSeconds', `must be between 0 and ${most} with ${subsets.length} subsets, got ${secs}`,
        'a pod must be able to try every subset within 5 minutes');
    }
  }
  if (spec.targetFilter?.selector) checkSelector(r, 'spec.targetFilter.selector', spec.targetFilter.selector, 'WorkloadSpread', { required: false, rule: 'ws/target-filter' });
}

function checkPersistentPodState(m: Json, r: Report): void {
  const spec = m.spec ?? {};
  const target = checkTargetRef(r, 'pps/target', 'spec.targetRef', spec.targetRef, 'PersistentPodState');
  if (target && !(target.kind === 'StatefulSet' && (target.group === 'apps' || target.group === 'apps.kruise.io'))) {
    r.warn('pps/target-kind', 'spec.targetRef', `Kruise keeps pod state for ${target.kind} only if kruise-manager's PPS custom workload whitelist lists it`,
      'the built-in target is a StatefulSet (apps/v1 or Advanced)');
  }
  if (spec.requiredPersistentTopology === undefined && !(spec.preferredPersistentTopology?.length > 0)) {
    r.error('pps/topology', 'spec', 'the PersistentPodState keeps nothing: it has neither requiredPersistentTopology nor preferredPersistentTopology',
      'set requiredPersistentTopology: { nodeTopologyKeys: ["kubernetes.io/hostname"] } to keep pods on their nodes');
  }
}

/** Image references as Kruise's daemon parses them (a docker reference: lowercase path, tag, digest). */
const IMAGE_REF = /^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*(?::\d+)?\/)?[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*(?::[\w][\w.-]{0,127})?(?:@[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-fA-F0-9]{32,})?$/;

function checkImageRef(r: Report, rule: string, path: string, image: unknown): void {
  if (typeof image !== 'string' || image === '') {
    r.error(rule, path, 'the image is empty');
  } else if (!IMAGE_REF.test(image)) {
    r.error(rule, path, `${fmt(image)} is not an image reference`, 'write [registry/]repository[:tag][@digest], the repository in lowercase');
  }
}

function checkPullJob(m: Json, r: Report, list: boolean, base = 'spec'): void {
  const spec = (base === 'spec' ? m.spec : m) ?? {};
  const kind = list ? 'ImageListPullJob' : 'ImagePullJob';
  const rule = list ? 'ilpj' : 'ipj';
  const sel = spec.selector;
  if (sel) {
    if ((sel.matchLabels || sel.matchExpressions) && sel.names) {
      r.error(`${rule}/selector`, `${base}.selector`, 'the node selector has both names and labels; Kruise takes one of them');
    }
    if (sel.matchLabels || sel.matchExpressions) checkSelector(r, `${base}.selector`, sel, kind, { required: false, rule: `${rule}/selector` });
    if (Array.isArray(sel.names) && new Set(sel.names).size !== sel.names.length) {
      r.error(`${rule}/selector`, `${base}.selector.names`, 'a node is named twice');
    }
  }
  if (spec.podSelector) {
    if (sel) r.error(`${rule}/selector`, `${base}.podSelector`, 'selector (nodes) and podSelector (nodes of these pods) are both set; use one');
    checkSelector(r, `${base}.podSelector`, spec.podSelector, kind, { required: false, rule: `${rule}/selector` });
  }
  if (list) {
    const images: Json[] = Array.isArray(spec.images) ? spec.images : [];
    if (images.length === 0) r.error('ilpj/images', `${base}.images`, 'the ImageListPullJob has no images');
    if (images.length > 255) r.error('ilpj/images', `${base}.images`, `at most 255 images, got ${images.length}`, 'split the list over several jobs');
    const seen = new Set<unknown>();
    images.forEach((img, i) => {
      if (seen.has(img)) r.error('ilpj/images', joinPath(`${base}.images`, i), `${fmt(img)} is listed twice`);
      seen.add(img);
      checkImageRef(r, 'ilpj/images', joinPath(`${base}.images`, i), img);
    });
  } else {
    checkImageRef(r, 'ipj/image', `${base}.image`, spec.image);
  }
  const par = spec.parallelism;
  if (typeof par === 'string') {
    if (par.endsWith('%')) r.error(`${rule}/parallelism`, `${base}.parallelism`, 'parallelism is a number of nodes: a percentage is not supported');
    else if (!/^-?\d+$/.test(par)) r.error(`${rule}/parallelism`, `${base}.parallelism`, `${fmt(par)} is not an integer`);
    else if (Number(par) < 0) r.error(`${rule}/parallelism`, `${base}.parallelism`, `must not be negative, got ${par}`);
  } else if (isInt(par) && par < 0) {
    r.error(`${rule}/parallelism`, `${base}.parallelism`, `must not be negative, got ${par}`);
  }
  const cp = spec.completionPolicy ?? {};
  const type = cp.type || 'Always';
  const timeout = isInt(spec.pullPolicy?.timeoutSeconds) ? spec.pullPolicy.timeoutSeconds : 600;
  if (type === 'Always') {
    if (!list && isInt(cp.activeDeadlineSeconds) && timeout > cp.activeDeadlineSeconds) {
      r.error('ipj/deadline', `${base}.completionPolicy.activeDeadlineSeconds`, `the deadline (${cp.activeDeadlineSeconds} s) is shorter than the pull timeout (${timeout} s${isInt(spec.pullPolicy?.timeoutSeconds) ? '' : ', the default'})`,
        'raise activeDeadlineSeconds, or lower pullPolicy.timeoutSeconds');
    }
  } else if (type === 'Never') {
    if (cp.activeDeadlineSeconds !== undefined || cp.ttlSecondsAfterFinished !== undefined) {
      r.error(`${rule}/completion`, `${base}.completionPolicy`, 'activeDeadlineSeconds and ttlSecondsAfterFinished work only with completionPolicy type Always', 'a Never job never finishes');
    }
  } else {
    r.error(`${rule}/completion`, `${base}.completionPolicy.type`, `${fmt(type)} is not a completion policy (Always, Never)`);
  }
}

/** Pod conditions Kubernetes and Kruise set themselves: a probe of that name would fight them. */
const OWN_POD_CONDITIONS = new Set(['PodScheduled', 'Initialized', 'Ready', 'ContainersReady', 'KruisePodReady', 'InPlaceUpdateReady']);
const QUALIFIED_NAME = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
const IANA_SVC_NAME = /^(?=.*[a-z])[a-z0-9]([a-z0-9-]*[a-z0-9])?$/;

function checkPort(r: Report, rule: string, path: string, port: unknown): void {
  if (isInt(port) ? port < 1 || port > 65535 : typeof port !== 'string' || port.length > 15 || !IANA_SVC_NAME.test(port) || port.includes('--')) {
    r.error(rule, path, `${fmt(port)} is not a port number (1-65535) or name`);
  }
}

function checkPodProbeMarker(m: Json, r: Report): void {
  const spec = m.spec ?? {};
  checkSelector(r, 'spec.selector', spec.selector, 'PodProbeMarker', { required: true, rule: 'ppm/selector' });
  const probes: Json[] = Array.isArray(spec.probes) ? spec.probes : [];
  if (probes.length === 0) r.error('ppm/probes', 'spec.probes', 'the PodProbeMarker has no probes');
  const names = new Set<string>();
  const conditions = new Set<string>();
  probes.forEach((p, i) => {
    const pp = joinPath('spec.probes', i);
    if (!p?.name) r.error('ppm/probe-name', joinPath(pp, 'name'), 'the probe has no name');
    else if (String(p.name).includes('#')) r.error('ppm/probe-name', joinPath(pp, 'name'), `probe name ${fmt(p.name)} must not contain '#'`);
    else if (OWN_POD_CONDITIONS.has(p.name)) r.error('ppm/probe-name', joinPath(pp, 'name'), `probe name ${fmt(p.name)} is a pod condition Kubernetes or Kruise own`, 'name the probe after what it checks, e.g. "primary" or "warm"');
    else if (names.has(p.name)) r.error('ppm/probe-name', joinPath(pp, 'name'), `probe name ${fmt(p.name)} is used twice`);
    else names.add(p.name);
    if (!p?.containerName) r.error('ppm/container', joinPath(pp, 'containerName'), 'the probe names no container to run in');
    const probe = p?.probe ?? {};
    const handlers = ['exec', 'httpGet', 'tcpSocket'].filter((h) => probe[h]);
    const ph = joinPath(pp, 'probe');
    if (handlers.length === 0) r.error('ppm/handler', ph, 'the probe has no exec, httpGet or tcpSocket', probe.grpc ? 'Kruise\'s daemon does not run grpc probes' : undefined);
    if (handlers.length > 1) r.error('ppm/handler', joinPath(ph, handlers[1]!), `the probe has ${handlers.join(' and ')}; it takes one`);
    if (probe.exec && !(probe.exec.command?.length > 0)) r.error('ppm/handler', at(ph, 'exec.command'), 'the exec probe has no command');
    if (probe.tcpSocket) {
      if (probe.tcpSocket.host) r.error('ppm/handler', at(ph, 'tcpSocket.host'), 'host is not allowed: the probe runs against the pod itself');
      checkPort(r, 'ppm/handler', at(ph, 'tcpSocket.port'), probe.tcpSocket.port);
    }
    if (probe.httpGet) {
      const h = probe.httpGet;
      if (!h.path) r.error('ppm/handler', at(ph, 'httpGet.path'), 'the httpGet probe has no path');
      if (h.host) r.error('ppm/handler', at(ph, 'httpGet.host'), 'host is not allowed: the probe runs against the pod itself');
      checkPort(r, 'ppm/handler', at(ph, 'httpGet.port'), h.port);
      if (h.scheme !== 'HTTP' && h.scheme !== 'HTTPS') {
        r.error('ppm/handler', at(ph, 'httpGet.scheme'), h.scheme === undefined ? 'scheme is required here: Kruise has no default for a PodProbeMarker' : `${fmt(h.scheme)} is not HTTP or HTTPS`, 'set scheme: HTTP');
      }
    }
    for (const f of ['initialDelaySeconds', 'timeoutSeconds', 'periodSeconds', 'successThreshold', 'failureThreshold']) nonNegative(r, 'ppm/timing', joinPath(ph, f), probe[f]);
    const policies: Json[] = Array.isArray(p?.markerPolicy) ? p.markerPolicy : [];
    if (!p?.podConditionType && policies.length === 0) {
      r.error('ppm/marks', pp, 'the probe marks nothing: it has neither markerPolicy nor podConditionType', 'add labels or annotations for state Succeeded (and Failed)');
    }
    if (p?.podConditionType) {
      if (conditions.has(p.podConditionType)) r.error('ppm/condition', joinPath(pp, 'podConditionType'), `podConditionType ${fmt(p.podConditionType)} is used by two probes`);
      else if (!QUALIFIED_NAME.test(p.podConditionType) || p.podConditionType.length > 316) r.error('ppm/condition', joinPath(pp, 'podConditionType'), `${fmt(p.podConditionType)} is not a valid condition type (a label name)`);
      conditions.add(p.podConditionType);
    }
    const states = new Set<string>();
    policies.forEach((mp, j) => {
      const mpp = joinPath(joinPath(pp, 'markerPolicy'), j);
      if (mp?.state !== 'Succeeded' && mp?.state !== 'Failed') {
        r.error('ppm/marks', joinPath(mpp, 'state'), `${fmt(mp?.state)} is not a probe state (Succeeded, Failed)`);
        return;
      }
      if (states.has(mp.state)) r.error('ppm/marks', joinPath(mpp, 'state'), `state ${mp.state} has two marker policies`);
      states.add(mp.state);
      if (Object.keys(mp.labels ?? {}).length === 0 && Object.keys(mp.annotations ?? {}).length === 0) {
        r.error('ppm/marks', mpp, `the marker policy for ${mp.state} has neither labels nor annotations`);
      }
      for (const [k, v] of Object.entries<unknown>(mp.labels ?? {})) {
        if (!QUALIFIED_NAME.test(k) || typeof v !== 'string' || v.length > 63 || !LABEL_VALUE.test(v)) {
          r.error('ppm/marks', joinPath(joinPath(mpp, 'labels'), k), `label ${fmt(k)}: ${fmt(v)} is not a valid label`);
        }
      }
      for (const k of Object.keys(mp.annotations ?? {})) {
        if (!QUALIFIED_NAME.test(k)) r.error('ppm/marks', joinPath(joinPath(mpp, 'annotations'), k), `${fmt(k)} is not a valid annotation key`);
      }
    });
  });
}

function checkResourceDistribution(m: Json, r: Report): void {
  checkName(r, m, 'subdomain');
  const spec = m.spec ?? {};
  const res = spec.resource;
  if (!res || res.apiVersion !== 'v1' || (res.kind !== 'Secret' && res.kind !== 'ConfigMap')) {
    r.error('rd/resource', 'spec.resource', `Kruise distributes only Secrets and ConfigMaps (v1)${res?.kind ? `, not ${res.kind}` : ''}`, 'put a v1 Secret or ConfigMap manifest in spec.resource');
  } else if (!res.metadata?.name) {
    r.error('rd/resource', 'spec.resource.metadata.name', `the ${res.kind} to distribute has no name`);
  }
  const t = spec.targets ?? {};
  const included = new Set<string>();
  (t.includedNamespaces?.list ?? []).forEach((n: Json, i: number) => {
    if (!n?.name || !DNS_LABEL.test(n.name) || n.name.length > 63) r.error('rd/targets', `spec.targets.includedNamespaces.list[${i}].name`, `${fmt(n?.name)} is not a namespace name`);
    included.add(n?.name);
  });
  (t.excludedNamespaces?.list ?? []).forEach((n: Json, i: number) => {
    const p = `spec.targets.excludedNamespaces.list[${i}].name`;
    if (!n?.name || !DNS_LABEL.test(n.name) || n.name.length > 63) r.error('rd/targets', p, `${fmt(n?.name)} is not a namespace name`);
    else if (included.has(n.name)) r.error('rd/targets', p, `namespace ${fmt(n.name)} is both included and excluded`);
  });
  if (t.namespaceLabelSelector) checkSelector(r, 'spec.targets.namespaceLabelSelector', t.namespaceLabelSelector, 'ResourceDistribution', { required: false, rule: 'rd/targets' });
}

function checkContainerRecreateRequest(m: Json, r: Report): void {
  const spec = m.spec ?? {};
  if (!spec.podName) r.error('crr/pod', 'spec.podName', 'the request names no pod');
  const containers: Json[] = Array.isArray(spec.containers) ? spec.containers : [];
  if (containers.length === 0) r.error('crr/containers', 'spec.containers', 'the request names no containers');
  const names = new Set<string>();
  containers.forEach((c, i) => {
    const p = joinPath('spec.containers', i);
    if (names.has(c?.name)) r.error('crr/containers', joinPath(p, 'name'), `container ${fmt(c.name)} is named twice`);
    names.add(c?.name);
    for (const f of ['preStop', 'ports', 'statusContext']) {
      if (c?.[f] !== undefined) r.error('crr/containers', joinPath(p, f), `${f} is filled in by Kruise from the pod`, 'give only the container\'s name');
    }
  });
  if (isInt(spec.activeDeadlineSeconds) && spec.activeDeadlineSeconds < 3) r.error('crr/deadline', 'spec.activeDeadlineSeconds', `must be at least 3 s, got ${spec.activeDeadlineSeconds}`);
  nonNegative(r, 'crr/strategy', 'spec.strategy.terminationGracePeriodSeconds', spec.strategy?.terminationGracePeriodSeconds);
  nonNegative(r, 'crr/strategy', 'spec.strategy.unreadyGracePeriodSeconds', spec.strategy?.unreadyGracePeriodSeconds);
  const fp = spec.strategy?.failurePolicy;
  if (fp !== undefined && fp !== '' && fp !== 'Fail' && fp !== 'Ignore') r.error('crr/strategy', 'spec.strategy.failurePolicy', `${fmt(fp)} is not a failure policy (Fail, Ignore)`);
}

/** Fields an ephemeral container may have (Kubernetes' allow-list, as Kruise's webhook applies it). */
const EPHEMERAL_FIELDS = new Set(['name', 'image', 'command', 'args', 'workingDir', 'envFrom', 'env', 'volumeMounts', 'volumeDevices',
  'terminationMessagePath', 'terminationMessagePolicy', 'imagePullPolicy', 'securityContext', 'stdin', 'stdinOnce', 'tty', 'targetContainerName']);

function checkEphemeralJob(m: Json, r: Report): void {
  const spec = m.spec ?? {};
  const containers: Json[] = Array.isArray(spec.template?.ephemeralContainers) ? spec.template.ephemeralContainers : [];
  if (containers.length === 0) r.error('ej/containers', 'spec.template.ephemeralContainers', 'the EphemeralJob has no containers');
  const names = new Set<string>();
  containers.forEach((c, i) => {
    const p = joinPath('spec.template.ephemeralContainers', i);
    if (!c?.name) r.error('ej/container', joinPath(p, 'name'), 'the container has no name');
    else if (!DNS_LABEL.test(c.name) || c.name.length > 63) r.error('ej/container', joinPath(p, 'name'), `container name ${fmt(c.name)} is not a DNS label`);
    else if (names.has(c.name)) r.error('ej/container', joinPath(p, 'name'), `container name ${fmt(c.name)} is used twice`);
    names.add(c?.name);
    if (!c?.image) r.error('ej/container', joinPath(p, 'image'), 'the container has no image');
    else if (String(c.image).trim() !== c.image) r.error('ej/container', joinPath(p, 'image'), 'the image has leading or trailing spaces');
    if (!c?.terminationMessagePolicy) r.error('ej/container', joinPath(p, 'terminationMessagePolicy'), 'terminationMessagePolicy is required: Kruise does not default an EphemeralJob\'s containers', 'set terminationMessagePolicy: File');
    else if (!['File', 'FallbackToLogsOnError'].includes(c.terminationMessagePolicy)) r.error('ej/container', joinPath(p, 'terminationMessagePolicy'), `${fmt(c.terminationMessagePolicy)} is not File or FallbackToLogsOnError`);
    if (!c?.imagePullPolicy) r.error('ej/container', joinPath(p, 'imagePullPolicy'), 'imagePullPolicy is required: Kruise does not default an EphemeralJob\'s containers', 'set imagePullPolicy: IfNotPresent');
    else if (!['Always', 'IfNotPresent', 'Never'].includes(c.imagePullPolicy)) r.error('ej/container', joinPath(p, 'imagePullPolicy'), `${fmt(c.imagePullPolicy)} is not Always, IfNotPresent or Never`);
    for (const f of Object.keys(c ?? {})) {
      if (!EPHEMERAL_FIELDS.has(f)) r.error('ej/container', joinPath(p, f), `${f} cannot be set on an ephemeral container`, 'ephemeral containers have no ports, probes, resources or lifecycle');
    }
    (c?.volumeMounts ?? []).forEach((vm: Json, j: number) => {
      for (const f of ['subPath', 'subPathExpr']) if (vm?.[f]) r.error('ej/container', joinPath(joinPath(joinPath(p, 'volumeMounts'), j), f), `${f} cannot be set on an ephemeral container`);
    });
  });
}

/** NodeImage and NodePodProbe are written by Kruise itself, one per node. */
function checkKruiseManaged(m: Json, r: Report): void {
  r.warn('kruise/managed-kind', 'kind', `${m.kind} objects are created and updated by Kruise, one per node; from git this one would fight kruise-daemon`,
    m.kind === 'NodeImage' ? 'to pull images onto nodes, write an ImagePullJob' : 'to probe pods, write a PodProbeMarker');
}
