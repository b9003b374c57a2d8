/**
 * How each kind is written with the DSL: the construct, its props and the calls on it, as
 * expressions (engine/import/expr.ts). A converter maps what the L2 construct has a prop or a
 * factory for; whatever it leaves out (a field the construct does not cover) is not lost: the
 * importer renders the construct, compares it with the input and writes the difference as
 * `addJsonPatch` calls, the documented escape hatch. Kinds without a construct are written as
 * cdk8s ApiObjects, as they are.
 */
import { arr, call, duration, type Expr, lit, obj, ref } from './expr.js';

type Json = any;

export interface MethodCall {
  readonly method: string;
  readonly args: readonly Expr[];
  /** Why the call is there, as a comment above it. */
  readonly comment?: string;
}

export interface ConstructPlan {
  /** `CloneSet`, `ApiObject`, ... */
  readonly cls: string;
  readonly props: Expr;
  readonly calls: MethodCall[];
  /** Comments above the construct. */
  readonly comments: string[];
}

const l = (v: unknown): Expr | undefined => (v === undefined ? undefined : lit(v));
const secs = (v: unknown): Expr | undefined => (typeof v === 'number' ? duration(v) : undefined);
const nonEmpty = (e: Expr): Expr | undefined => (e.t === 'obj' && e.props.length === 0 ? undefined : e);

/** `kplus.LabelSelector.of({ labels, expressions })` for a workload's `select()`. */
function labelSelector(sel: Json): Expr {
  const ops: Record<string, string> = { In: 'in', NotIn: 'notIn', Exists: 'exists', DoesNotExist: 'doesNotExist' };
  const expressions = (sel?.matchExpressions ?? []).map((e: Json) => (e.operator === 'In' || e.operator === 'NotIn'
    ? call(`kplus.LabelExpression.${ops[e.operator]}`, lit(e.key), lit(e.values ?? []))
    : call(`kplus.LabelExpression.${ops[e.operator] ?? 'exists'}`, lit(e.key))));
  return call('kplus.LabelSelector.of', obj({
    labels: sel?.matchLabels ? lit(sel.matchLabels) : undefined,
    expressions: expressions.length ? arr(expressions) : undefined,
  }));
}

const POD_COMMENT = 'The pod template as written: cdk8s-plus containers would add their defaults and restart every pod once.';

/** Props and calls shared by the workloads with a pod template. */
function podTemplateParts(spec: Json, template: Json): { props: Record<string, Expr | undefined>; calls: MethodCall[] } {
  return {
    props: { select: lit(false), podTemplate: template === undefined ? undefined : lit(template) },
    calls: spec?.selector ? [{ method: 'select', args: [labelSelector(spec.selector)] }] : [],
  };
}

function priority(ps: Json): Expr | undefined {
  if (!ps) return undefined;
  if (ps.weightPriority) {
    return call('UpdatePriority.weight', ...ps.weightPriority.map((w: Json) => obj({ weight: lit(w.weight), selector: lit(w.matchSelector ?? {}) })));
  }
  if (ps.orderPriority) return call('UpdatePriority.order', ...ps.orderPriority.map((o: Json) => lit(o.orderedKey)));
  return undefined;
}

function cloneSetStrategy(us: Json): Expr | undefined {
  if (!us) return undefined;
  const fn = ({ ReCreate: 'reCreate', InPlaceIfPossible: 'inPlaceIfPossible', InPlaceOnly: 'inPlaceOnly' } as Record<string, string>)[us.type ?? 'ReCreate'];
  if (!fn) return undefined;
  const options = obj({
    partition: l(us.partition), maxUnavailable: l(us.maxUnavailable), maxSurge: fn === 'inPlaceOnly' ? undefined : l(us.maxSurge),
    paused: l(us.paused), priority: priority(us.priorityStrategy), scatter: l(us.scatterStrategy),
    gracePeriod: fn === 'reCreate' ? undefined : secs(us.inPlaceUpdateStrategy?.gracePeriodSeconds),
  });
  return call(`CloneSetUpdateStrategy.${fn}`, ...(options.t === 'obj' && options.props.length ? [options] : []));
}

function cloneSetProps(spec: Json): Record<string, Expr | undefined> {
  return {
    replicas: l(spec.replicas),
    updateStrategy: cloneSetStrategy(spec.updateStrategy),
    scaleStrategy: spec.scaleStrategy ? nonEmpty(obj({
      podsToDelete: l(spec.scaleStrategy.podsToDelete), maxUnavailable: l(spec.scaleStrategy.maxUnavailable), disablePvcReuse: l(spec.scaleStrategy.disablePVCReuse),
    })) : undefined,
    minReady: secs(spec.minReadySeconds),
    progressDeadline: secs(spec.progressDeadlineSeconds),
    revisionHistoryLimit: l(spec.revisionHistoryLimit),
  };
}

const POD_UPDATE: Record<string, string> = { ReCreate: 'PodUpdatePolicy.RECREATE', InPlaceIfPossible: 'PodUpdatePolicy.IN_PLACE_IF_POSSIBLE', InPlaceOnly: 'PodUpdatePolicy.IN_PLACE_ONLY' };

function statefulSetStrategy(us: Json): Expr | undefined {
  if (!us) return undefined;
  if (us.type === 'OnDelete') return call('StatefulSetUpdateStrategy.onDelete');
  const ru = us.rollingUpdate ?? {};
  const options = obj({
    partition: l(ru.partition), podUpdatePolicy: ru.podUpdatePolicy && POD_UPDATE[ru.podUpdatePolicy] ? ref(POD_UPDATE[ru.podUpdatePolicy]!) : undefined,
    paused: l(ru.paused), minReady: secs(ru.minReadySeconds), inPlaceGracePeriod: secs(ru.inPlaceUpdateStrategy?.gracePeriodSeconds),
  });
  return call('StatefulSetUpdateStrategy.rollingUpdate', ...(options.t === 'obj' && options.props.length ? [options] : []));
}

function podManagement(spec: Json): Expr | undefined {
  if (spec.podManagementPolicy === 'OrderedReady') return call('PodManagement.orderedReady');
  if (spec.podManagementPolicy !== 'Parallel') return undefined;
  const ru = spec.updateStrategy?.rollingUpdate ?? {};
  const options = obj({
    maxUnavailable: l(ru.maxUnavailable), updatePriority: priority(ru.unorderedUpdate?.priorityStrategy), scaleMaxUnavailable: l(spec.scaleStrategy?.maxUnavailable),
  });
  return call('PodManagement.parallel', ...(options.t === 'obj' && options.props.length ? [options] : []));
}

function daemonSetStrategy(us: Json): Expr | undefined {
  if (!us) return undefined;
  if (us.type === 'OnDelete') return call('DaemonSetUpdateStrategy.onDelete');
  const ru = us.rollingUpdate ?? {};
  const fn = ru.rollingUpdateType === 'InPlaceIfPossible' ? 'inPlaceIfPossible' : 'rollingUpdate';
  const options = obj({
    maxUnavailable: l(ru.maxUnavailable), maxSurge: l(ru.maxSurge), partition: l(ru.partition), paused: l(ru.paused), nodeSelector: l(ru.selector),
  });
  return call(`DaemonSetUpdateStrategy.${fn}`, ...(options.t === 'obj' && options.props.length ? [options] : []));
}

function completionPolicy(cp: Json): Expr | undefined {
  if (!cp) return undefined;
  if (cp.type === 'Never') return call('CompletionPolicy.never');
  const options = obj({ ttlAfterFinished: secs(cp.ttlSecondsAfterFinished), activeDeadline: secs(cp.activeDeadlineSeconds) });
  return call('CompletionPolicy.always', ...(options.t === 'obj' && options.props.length ? [options] : []));
}

function failurePolicy(fp: Json): Expr | undefined {
  if (!fp) return undefined;
  const fn = ({ FailFast: 'failFast', Continue: 'continue', Pause: 'pause' } as Record<string, string>)[fp.type ?? 'FailFast'];
  return fn ? call(`FailurePolicy.${fn}`) : undefined;
}

function broadcastOptions(spec: Json): Record<string, Expr | undefined> {
  return {
    parallelism: l(spec.parallelism), completionPolicy: completionPolicy(spec.completionPolicy),
    failurePolicy: failurePolicy(spec.failurePolicy), paused: l(spec.paused),
  };
}

function version(m: Json, defaultVersion: string): Record<string, Expr | undefined> {
  return { apiVersion: m.apiVersion === defaultVersion ? undefined : lit(m.apiVersion) };
}

type Converter = (m: Json, metadata: Json) => ConstructPlan;

const RELEASE_COMMENT = 'Its release plan stays the kgitops.io/release-plan annotation: as `release: Release.steps(...)` it would be checked at synth.';

function workload(cls: string, m: Json, metadata: Json, template: Json, props: Record<string, Expr | undefined>, comments: string[] = []): ConstructPlan {
  const pod = podTemplateParts(m.spec, template);
  const release = metadata.annotations?.['kgitops.io/release-plan'] !== undefined ? [RELEASE_COMMENT] : [];
  return { cls, props: obj({ metadata: lit(metadata), ...props, ...pod.props }), calls: pod.calls, comments: [...comments, ...release, ...(template ? [POD_COMMENT] : [])] };
}

const CONVERTERS: Record<string, Converter> = {
  'apps.kruise.io/CloneSet': (m, md) => workload('CloneSet', m, md, m.spec?.template, cloneSetProps(m.spec ?? {})),
  'apps.kruise.io/StatefulSet': (m, md) => {
    const s = m.spec ?? {};
    return workload('AdvancedStatefulSet', m, md, s.template, {
      ...version(m, 'apps.kruise.io/v1beta1'),
      replicas: l(s.replicas), serviceName: l(s.serviceName), podManagement: podManagement(s), updateStrategy: statefulSetStrategy(s.updateStrategy),
      reserveOrdinals: l(s.reserveOrdinals), startOrdinal: l(s.ordinals?.start), volumeClaimRetention: l(s.persistentVolumeClaimRetentionPolicy),
      revisionHistoryLimit: l(s.revisionHistoryLimit),
    });
  },
  'apps.kruise.io/DaemonSet': (m, md) => {
    const s = m.spec ?? {};
    return workload('AdvancedDaemonSet', m, md, s.template, {
      ...version(m, 'apps.kruise.io/v1alpha1'),
      updateStrategy: daemonSetStrategy(s.updateStrategy), burstReplicas: l(s.burstReplicas), minReady: secs(s.minReadySeconds), revisionHistoryLimit: l(s.revisionHistoryLimit),
    });
  },
  'apps.kruise.io/BroadcastJob': (m, md) => workload('BroadcastJob', m, md, m.spec?.template, { ...version(m, 'apps.kruise.io/v1alpha1'), ...broadcastOptions(m.spec ?? {}) }),
  'apps.kruise.io/AdvancedCronJob': (m, md) => {
    const s = m.spec ?? {};
    const t = s.template ?? {};
    let template: Expr | undefined;
    let pod: Json;
    if (t.broadcastJobTemplate) {
      template = call('CronJobTemplate.broadcastJob', ...[obj(broadcastOptions(t.broadcastJobTemplate.spec ?? {}))].filter((o) => o.t !== 'obj' || o.props.length));
      pod = t.broadcastJobTemplate.spec?.template;
    } else if (t.jobTemplate) {
      const j = t.jobTemplate.spec ?? {};
      template = call('CronJobTemplate.job', ...[obj({
        backoffLimit: l(j.backoffLimit), activeDeadline: secs(j.activeDeadlineSeconds), ttlAfterFinished: secs(j.ttlSecondsAfterFinished),
        parallelism: l(j.parallelism), completions: l(j.completions),
      })].filter((o) => o.t !== 'obj' || o.props.length));
      pod = j.template;
    } else if (t.imageListPullJobTemplate) {
      template = call('CronJobTemplate.imageListPullJob', obj(pullJobOptions(t.imageListPullJobTemplate.spec ?? {}, true)));
    }
    const concurrency: Record<string, string> = { Allow: 'ConcurrencyPolicy.ALLOW', Forbid: 'ConcurrencyPolicy.FORBID', Replace: 'ConcurrencyPolicy.REPLACE' };
    return workload('AdvancedCronJob', m, md, pod, {
      ...(t.imageListPullJobTemplate ? {} : version(m, 'apps.kruise.io/v1alpha1')),
      schedule: l(s.schedule), timeZone: l(s.timeZone), template,
      concurrencyPolicy: s.concurrencyPolicy && concurrency[s.concurrencyPolicy] ? ref(concurrency[s.concurrencyPolicy]!) : undefined,
      startingDeadline: secs(s.startingDeadlineSeconds), successfulJobsRetained: l(s.successfulJobsHistoryLimit),
      failedJobsRetained: l(s.failedJobsHistoryLimit), paused: l(s.paused),
    });
  },
  'apps.kruise.io/UnitedDeployment': (m, md) => {
    const s = m.spec ?? {};
    const t = s.template ?? {};
    let template: Expr | undefined;
    let pod: Json;
    if (t.cloneSetTemplate) {
      const cs = t.cloneSetTemplate.spec ?? {};
      template = call('UnitedDeploymentTemplate.cloneSet', ...[obj({ updateStrategy: cloneSetStrategy(cs.updateStrategy), minReady: secs(cs.minReadySeconds) })].filter((o) => o.t !== 'obj' || o.props.length));
      pod = cs.template;
    } else if (t.advancedStatefulSetTemplate) {
      const a = t.advancedStatefulSetTemplate.spec ?? {};
      template = call('UnitedDeploymentTemplate.advancedStatefulSet', ...[obj({ serviceName: l(a.serviceName), podManagement: podManagement(a), updateStrategy: statefulSetStrategy(a.updateStrategy) })].filter((o) => o.t !== 'obj' || o.props.length));
      pod = a.template;
    } else if (t.statefulSetTemplate) {
      const a = t.statefulSetTemplate.spec ?? {};
      template = call('UnitedDeploymentTemplate.statefulSet', ...[obj({ serviceName: l(a.serviceName), podManagementPolicy: l(a.podManagementPolicy) })].filter((o) => o.t !== 'obj' || o.props.length));
      pod = a.template;
    } else if (t.deploymentTemplate) {
      const d = t.deploymentTemplate.spec ?? {};
      template = call('UnitedDeploymentTemplate.deployment', ...[obj({ minReady: secs(d.minReadySeconds), progressDeadline: secs(d.progressDeadlineSeconds) })].filter((o) => o.t !== 'obj' || o.props.length));
      pod = d.template;
    }
    const subsets = (s.topology?.subsets ?? []).map((sub: Json) => obj({
      name: lit(sub.name), nodeSelector: nodeLabelQueries(sub.nodeSelectorTerm),
      replicas: l(sub.replicas), minReplicas: l(sub.minReplicas), maxReplicas: l(sub.maxReplicas), patch: l(sub.patch),
    }));
    const partitions = s.updateStrategy?.manualUpdate?.partitions;
    return workload('UnitedDeployment', m, md, pod, {
      replicas: l(s.replicas), template, subsets: arr(subsets), partitions: l(partitions), revisionHistoryLimit: l(s.revisionHistoryLimit),
    });
  },
  'apps.kruise.io/SidecarSet': (m, md) => {
    const s = m.spec ?? {};
    const strategy = s.updateStrategy;
    let updateStrategy: Expr | undefined;
    if (strategy?.type === 'NotUpdate') updateStrategy = call('SidecarSetUpdateStrategy.notUpdate');
    else if (strategy) {
      const o = obj({
        partition: l(strategy.partition), selector: l(strategy.selector), maxUnavailable: l(strategy.maxUnavailable), paused: l(strategy.paused),
        priority: priority(strategy.priorityStrategy), scatter: l(strategy.scatterStrategy),
      });
      updateStrategy = call('SidecarSetUpdateStrategy.rollingUpdate', ...(o.t === 'obj' && o.props.length ? [o] : []));
    }
    const calls: MethodCall[] = [];
    for (const f of ['containers', 'initContainers'] as const) {
      if (s[f]) calls.push({ method: 'addJsonPatch', args: [call('JsonPatch.add', lit(`/spec/${f}`), lit(s[f]))], comment: `The ${f === 'containers' ? 'sidecar' : 'init'} containers as written: cdk8s-plus would add its container defaults, a new sidecar revision for every pod.` });
    }
    return {
      cls: 'SidecarSet',
      props: obj({
        metadata: lit(md), ...version(m, 'apps.kruise.io/v1alpha1'),
        selector: lit(s.selector ?? {}), namespaceSelector: l(s.namespaceSelector), updateStrategy,
        injectionPaused: l(s.injectionStrategy?.paused), imagePullSecrets: s.imagePullSecrets ? lit(s.imagePullSecrets.map((x: Json) => x.name)) : undefined,
        revisionHistoryLimit: l(s.revisionHistoryLimit),
      }),
      calls,
      comments: [],
    };
  },
  'policy.kruise.io/PodUnavailableBudget': (m, md) => {
    const s = m.spec ?? {};
    const protect = md.annotations?.['kruise.io/pub-protect-operations'];
    const metadata = protect ? withoutAnnotation(md, 'kruise.io/pub-protect-operations') : md;
    const ops = typeof protect === 'string' ? protect.split(',').map((o: string) => o.trim()).filter((o) => ['DELETE', 'EVICT', 'UPDATE', 'RESIZE'].includes(o)) : [];
    return {
      cls: 'PodUnavailableBudget',
      props: obj({
        metadata: lit(metadata), target: l(s.targetRef), selector: s.targetRef ? undefined : l(s.selector),
        maxUnavailable: l(s.maxUnavailable), minAvailable: l(s.minAvailable),
        protect: ops.length ? arr(ops.map((o) => ref(`ProtectedOperation.${o}`))) : undefined,
      }),
      calls: [], comments: [],
    };
  },
  'apps.kruise.io/WorkloadSpread': (m, md) => {
    const s = m.spec ?? {};
    const strategy = s.scheduleStrategy?.type === 'Adaptive'
      ? call('SpreadStrategy.adaptive', ...[lit(s.scheduleStrategy.adaptive ?? {})].filter((x) => x.t !== 'lit' || Object.keys(x.v as object).length))
      : s.scheduleStrategy?.type === 'Fixed' ? call('SpreadStrategy.fixed') : undefined;
    return {
      cls: 'WorkloadSpread',
      props: obj({
        metadata: lit(md), target: l(s.targetRef),
        subsets: arr((s.subsets ?? []).map((sub: Json) => obj({
          name: lit(sub.name), requiredNodeSelector: l(sub.requiredNodeSelectorTerm?.matchExpressions),
          tolerations: l(sub.tolerations), maxReplicas: l(sub.maxReplicas), patch: l(sub.patch),
          preferredNodeSelector: sub.preferredNodeSelectorTerms
            ? lit(sub.preferredNodeSelectorTerms.map((t: Json) => ({ weight: t.weight, match: t.preference?.matchExpressions ?? [] }))) : undefined,
        }))),
        strategy,
      }),
      calls: [], comments: [],
    };
  },
  'apps.kruise.io/PersistentPodState': (m, md) => {
    const s = m.spec ?? {};
    const retention: Record<string, string> = { WhenScaled: 'PodStateRetention.WHEN_SCALED', WhenDeleted: 'PodStateRetention.WHEN_DELETED' };
    return {
      cls: 'PersistentPodState',
      props: obj({
        metadata: lit(md), target: l(s.targetRef), requiredTopology: l(s.requiredPersistentTopology?.nodeTopologyKeys),
        preferredTopology: s.preferredPersistentTopology
          ? lit(s.preferredPersistentTopology.map((p: Json) => ({ weight: p.weight, nodeTopologyKeys: p.preference?.nodeTopologyKeys ?? [] }))) : undefined,
        persistentAnnotations: s.persistentPodAnnotations ? lit(s.persistentPodAnnotations.map((a: Json) => a.key)) : undefined,
        retention: s.persistentPodStateRetentionPolicy && retention[s.persistentPodStateRetentionPolicy] ? ref(retention[s.persistentPodStateRetentionPolicy]!) : undefined,
      }),
      calls: [], comments: [],
    };
  },
  'apps.kruise.io/ImagePullJob': (m, md) => ({
    cls: 'ImagePullJob', props: obj({ metadata: lit(md), ...version(m, 'apps.kruise.io/v1alpha1'), image: l(m.spec?.image), ...pullJobOptions(m.spec ?? {}, false) }), calls: [], comments: [],
  }),
  'apps.kruise.io/ImageListPullJob': (m, md) => ({
    cls: 'ImageListPullJob', props: obj({ metadata: lit(md), ...version(m, 'apps.kruise.io/v1alpha1'), ...pullJobOptions(m.spec ?? {}, true) }), calls: [], comments: [],
  }),
  'apps.kruise.io/ContainerRecreateRequest': (m, md) => {
    const s = m.spec ?? {};
    const st = s.strategy ?? {};
    return {
      cls: 'ContainerRecreateRequest',
      props: obj({
        metadata: lit(md), podName: l(s.podName), containers: lit((s.containers ?? []).map((c: Json) => c.name)),
        failurePolicy: l(st.failurePolicy), ordered: l(st.orderedRecreate), force: l(st.forceRecreate),
        terminationGracePeriod: secs(st.terminationGracePeriodSeconds), unreadyGracePeriod: secs(st.unreadyGracePeriodSeconds),
        minStarted: secs(st.minStartedSeconds), activeDeadline: secs(s.activeDeadlineSeconds), ttlAfterFinished: secs(s.ttlSecondsAfterFinished),
      }),
      calls: [], comments: [],
    };
  },
  'apps.kruise.io/PodProbeMarker': (m, md) => {
    const s = m.spec ?? {};
    const probes = (s.probes ?? []).map((p: Json) => {
      const pr = p.probe ?? {};
      const timing = {
        initialDelay: secs(pr.initialDelaySeconds), period: secs(pr.periodSeconds), timeout: secs(pr.timeoutSeconds),
        successThreshold: l(pr.successThreshold), failureThreshold: l(pr.failureThreshold),
      };
      let probe: Expr | undefined;
      if (pr.exec) probe = call('MarkerProbe.exec', lit(pr.exec.command ?? []), ...[obj(timing)].filter((o) => o.t !== 'obj' || o.props.length));
      else if (pr.httpGet) probe = call('MarkerProbe.httpGet', lit(pr.httpGet.path ?? '/'), obj({ port: lit(pr.httpGet.port), scheme: pr.httpGet.scheme === 'HTTPS' ? lit('HTTPS') : undefined, ...timing }));
      else if (pr.tcpSocket) probe = call('MarkerProbe.tcp', lit(pr.tcpSocket.port), ...[obj(timing)].filter((o) => o.t !== 'obj' || o.props.length));
      const marks = (state: string) => {
        const mp = (p.markerPolicy ?? []).find((x: Json) => x.state === state);
        return mp ? lit({ labels: mp.labels, annotations: mp.annotations }) : undefined;
      };
      return obj({
        name: lit(p.name), containerName: lit(p.containerName), probe: probe ?? call('MarkerProbe.exec', lit([])),
        whenSucceeded: marks('Succeeded'), whenFailed: marks('Failed'), podConditionType: l(p.podConditionType),
      });
    });
    return { cls: 'PodProbeMarker', props: obj({ metadata: lit(md), selector: lit(s.selector ?? {}), probes: arr(probes) }), calls: [], comments: [] };
  },
  'apps.kruise.io/ResourceDistribution': (m, md) => {
    const s = m.spec ?? {};
    const r = s.resource ?? {};
    const t = s.targets ?? {};
    let resource: Expr;
    if (r.kind === 'ConfigMap' && r.apiVersion === 'v1') resource = call('DistributedResource.configMap', lit(r.metadata?.name), lit(r.data ?? {}));
    else if (r.kind === 'Secret' && r.apiVersion === 'v1') resource = call('DistributedResource.secret', lit(r.metadata?.name), lit(r.data ?? {}), ...(r.type && r.type !== 'Opaque' ? [lit(r.type)] : []));
    else resource = call('DistributedResource.configMap', lit(r.metadata?.name ?? ''), lit({}));
    return {
      cls: 'ResourceDistribution',
      props: obj({
        metadata: lit(md), resource,
        targets: obj({
          allNamespaces: l(t.allNamespaces), namespaces: t.includedNamespaces?.list ? lit(t.includedNamespaces.list.map((n: Json) => n.name)) : undefined,
          namespaceSelector: l(t.namespaceLabelSelector), excluded: t.excludedNamespaces?.list ? lit(t.excludedNamespaces.list.map((n: Json) => n.name)) : undefined,
        }),
      }),
      calls: [], comments: [],
    };
  },
  'apps.kruise.io/EphemeralJob': (m, md) => {
    const s = m.spec ?? {};
    const containers = (s.template?.ephemeralContainers ?? []).map((c: Json) => {
      const env = Array.isArray(c.env) && c.env.every((e: Json) => typeof e.value === 'string' && !e.valueFrom)
        ? Object.fromEntries(c.env.map((e: Json) => [e.name, e.value])) : undefined;
      return obj({
        name: lit(c.name), image: lit(c.image), command: l(c.command), args: l(c.args), workingDir: l(c.workingDir), env: l(env),
        targetContainerName: l(c.targetContainerName), volumeMounts: l(c.volumeMounts), imagePullPolicy: l(c.imagePullPolicy),
        securityContext: l(c.securityContext), interactive: c.stdin && c.tty ? lit(true) : undefined,
      });
    });
    return {
      cls: 'EphemeralJob',
      props: obj({
        metadata: lit(md), selector: lit(s.selector ?? {}), replicas: l(s.replicas), parallelism: l(s.parallelism), containers: arr(containers),
        activeDeadline: secs(s.activeDeadlineSeconds), ttlAfterFinished: secs(s.ttlSecondsAfterFinished), paused: l(s.paused),
      }),
      calls: [], comments: [],
    };
  },
};

/** A node selector term as cdk8s-plus NodeLabelQuery calls (In with one value reads as `is`). */
function nodeLabelQueries(term: Json): Expr | undefined {
  const exprs: Json[] = term?.matchExpressions ?? [];
  if (!exprs.length || term.matchFields) return undefined;
  return arr(exprs.map((e) => {
    switch (e.operator) {
      case 'In': return e.values?.length === 1 ? call('kplus.NodeLabelQuery.is', lit(e.key), lit(e.values[0])) : call('kplus.NodeLabelQuery.in', lit(e.key), lit(e.values ?? []));
      case 'NotIn': return call('kplus.NodeLabelQuery.notIn', lit(e.key), lit(e.values ?? []));
      case 'Exists': return call('kplus.NodeLabelQuery.exists', lit(e.key));
      case 'DoesNotExist': return call('kplus.NodeLabelQuery.doesNotExist', lit(e.key));
      case 'Gt': return call('kplus.NodeLabelQuery.gt', lit(e.key), lit(e.values ?? []));
      default: return call('kplus.NodeLabelQuery.lt', lit(e.key), lit(e.values ?? []));
    }
  }));
}

function pullJobOptions(s: Json, list: boolean): Record<string, Expr | undefined> {
  let nodes: Expr | undefined;
  if (s.podSelector) nodes = call('PullNodes.runningPods', lit(s.podSelector));
  else if (s.selector?.names) nodes = call('PullNodes.named', ...s.selector.names.map((n: string) => lit(n)));
  else if (s.selector) nodes = call('PullNodes.labelled', lit(s.selector));
  const cp = s.completionPolicy;
  let completion: Expr | undefined;
  if (cp?.type === 'Never') completion = call('PullCompletion.never');
  else if (cp) {
    const o = obj({ activeDeadline: secs(cp.activeDeadlineSeconds), ttlAfterFinished: secs(cp.ttlSecondsAfterFinished) });
    completion = call('PullCompletion.always', ...(o.t === 'obj' && o.props.length ? [o] : []));
  }
  return {
    images: list ? l(s.images) : undefined, nodes, parallelism: l(s.parallelism), pullTimeout: secs(s.pullPolicy?.timeoutSeconds),
    backoffLimit: l(s.pullPolicy?.backoffLimit), completion, pullSecrets: l(s.pullSecrets), imagePullPolicy: l(s.imagePullPolicy), sandboxConfig: l(s.sandboxConfig),
  };
}

function withoutAnnotation(md: Json, key: string): Json {
  const { [key]: _drop, ...annotations } = md.annotations ?? {};
  const out = { ...md, annotations };
  if (Object.keys(annotations).length === 0) delete out.annotations;
  return out;
}

/** The plan for one manifest (metadata already cleaned of server-set fields). */
export function planFor(m: Json, metadata: Json): ConstructPlan {
  const group = typeof m.apiVersion === 'string' && m.apiVersion.includes('/') ? m.apiVersion.slice(0, m.apiVersion.lastIndexOf('/')) : '';
  const convert = CONVERTERS[`${group}/${m.kind}`];
  if (convert) return convert(m, metadata);
  const { status: _s, metadata: _m, ...rest } = m;
  return {
    cls: 'ApiObject',
    props: lit({ apiVersion: rest.apiVersion, kind: rest.kind, metadata, ...rest }),
    calls: [],
    comments: [`${m.kind} ${m.apiVersion}: kruise-gitops has no construct for it, so it stays a plain cdk8s ApiObject, as written.`],
  };
}
