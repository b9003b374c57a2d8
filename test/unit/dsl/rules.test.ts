/**
 * Kruise's webhook rules, checked statically: one negative case per rule with its exact
 * message, plus the edge cases where Kruise's own behaviour is surprising (checked against the
 * v1.9.0 webhook code).
 */
import { describe, expect, it } from 'vitest';
import { checkRules } from '../../../dsl/rules.js';
import { base } from '../../fixtures/manifests.js';

type Kind = Parameters<typeof base>[0];

function violations(kind: Kind, mutate: (m: any) => void) {
  const m = base(kind);
  mutate(m);
  return checkRules(m);
}

interface Case {
  name: string;
  kind: Kind;
  mutate: (m: any) => void;
  rule: string;
  path: string;
  message: string;
  severity?: 'error' | 'warning';
}

const us = (m: any) => (m.spec.updateStrategy ??= {});
const ru = (m: any) => (us(m).rollingUpdate ??= {});
const pod = (m: any) => m.spec.template.spec;

const cases: Case[] = [
  // CloneSet
  { name: 'InPlaceOnly with an integer maxSurge', kind: 'CloneSet', mutate: (m) => Object.assign(us(m), { type: 'InPlaceOnly', maxSurge: 1 }),
    rule: 'cloneset/in-place-only-max-surge', path: 'spec.updateStrategy.maxSurge', message: 'maxSurge must be 0 with update type InPlaceOnly, got 1' },
  { name: 'InPlaceOnly with a percentage maxSurge that rounds up to a pod', kind: 'CloneSet', mutate: (m) => Object.assign(us(m), { type: 'InPlaceOnly', maxSurge: '10%' }),
    rule: 'cloneset/in-place-only-max-surge', path: 'spec.updateStrategy.maxSurge', message: 'maxSurge must be 0 with update type InPlaceOnly, got "10%"' },
  { name: 'maxUnavailable and maxSurge both zero', kind: 'CloneSet', mutate: (m) => Object.assign(us(m), { maxUnavailable: 0, maxSurge: 0 }),
    rule: 'cloneset/no-progress', path: 'spec.updateStrategy.maxUnavailable',
    message: 'maxUnavailable (0) and maxSurge (0) are both less than one pod of 4, so an update could never start' },
  { name: 'maxUnavailable "0%" with the default maxSurge', kind: 'CloneSet', mutate: (m) => Object.assign(us(m), { maxUnavailable: '0%' }),
    rule: 'cloneset/no-progress', path: 'spec.updateStrategy.maxUnavailable',
    message: 'maxUnavailable ("0%") and maxSurge (0) are both less than one pod of 4, so an update could never start' },
  { name: 'a malformed percentage', kind: 'CloneSet', mutate: (m) => Object.assign(us(m), { partition: 'half' }),
    rule: 'cloneset/partition', path: 'spec.updateStrategy.partition', message: '"half" is not a number of pods or a percentage' },
  { name: 'a percentage without %', kind: 'CloneSet', mutate: (m) => Object.assign(us(m), { maxSurge: '10' }),
    rule: 'cloneset/max-surge', path: 'spec.updateStrategy.maxSurge', message: '"10" is not a number of pods or a percentage' },
  { name: 'a negative partition', kind: 'CloneSet', mutate: (m) => Object.assign(us(m), { partition: -1 }),
    rule: 'cloneset/partition', path: 'spec.updateStrategy.partition', message: 'partition must not be negative, got -1' },
  { name: 'OnDelete, which CloneSet v1alpha1 does not have', kind: 'CloneSet', mutate: (m) => Object.assign(us(m), { type: 'OnDelete' }),
    rule: 'cloneset/update-type', path: 'spec.updateStrategy.type', message: 'update type must be ReCreate, InPlaceIfPossible or InPlaceOnly, got "OnDelete"' },
  { name: 'weight and order priorities together', kind: 'CloneSet',
    mutate: (m) => Object.assign(us(m), { priorityStrategy: { weightPriority: [{ weight: 10, matchSelector: { matchLabels: { a: 'b' } } }], orderPriority: [{ orderedKey: 'k' }] } }),
    rule: 'priority/exclusive', path: 'spec.updateStrategy.priorityStrategy', message: 'weightPriority and orderPriority cannot be used together' },
  { name: 'a weight above 100', kind: 'CloneSet',
    mutate: (m) => Object.assign(us(m), { priorityStrategy: { weightPriority: [{ weight: 101, matchSelector: { matchLabels: { a: 'b' } } }] } }),
    rule: 'priority/weight', path: 'spec.updateStrategy.priorityStrategy.weightPriority[0].weight', message: 'weight must be between 0 and 100, got 101' },
  { name: 'an empty weight selector', kind: 'CloneSet',
    mutate: (m) => Object.assign(us(m), { priorityStrategy: { weightPriority: [{ weight: 5, matchSelector: {} }] } }),
    rule: 'priority/selector', path: 'spec.updateStrategy.priorityStrategy.weightPriority[0].matchSelector', message: 'the selector of a weight priority must not be empty' },
  { name: 'an empty order key', kind: 'CloneSet', mutate: (m) => Object.assign(us(m), { priorityStrategy: { orderPriority: [{ orderedKey: '' }] } }),
    rule: 'priority/order-key', path: 'spec.updateStrategy.priorityStrategy.orderPriority[0].orderedKey', message: 'the order key must not be empty' },
  { name: 'a duplicated scatter rule', kind: 'CloneSet',
    mutate: (m) => Object.assign(us(m), { scatterStrategy: [{ key: 'zone', value: 'a' }, { key: 'zone', value: 'a' }] }),
    rule: 'scatter/duplicate', path: 'spec.updateStrategy.scatterStrategy[1]', message: 'scatter rule zone=a appears twice' },
  { name: 'an empty scatter key', kind: 'CloneSet', mutate: (m) => Object.assign(us(m), { scatterStrategy: [{ key: '', value: 'a' }] }),
    rule: 'scatter/key', path: 'spec.updateStrategy.scatterStrategy[0].key', message: 'the scatter key must not be empty' },
  { name: 'a selector that does not match the template', kind: 'CloneSet', mutate: (m) => { m.spec.selector = { matchLabels: { app: 'other' } }; },
    rule: 'cloneset/selector-mismatch', path: 'spec.template.metadata.labels', message: 'the selector does not match the pod template labels' },
  { name: 'an empty selector', kind: 'CloneSet', mutate: (m) => { m.spec.selector = {}; },
    rule: 'cloneset/selector', path: 'spec.selector', message: 'an empty selector is not allowed for a cloneset' },
  { name: 'a pod restart policy other than Always', kind: 'CloneSet', mutate: (m) => { pod(m).restartPolicy = 'Never'; },
    rule: 'cloneset/restart-policy', path: 'spec.template.spec.restartPolicy', message: 'restartPolicy must be Always, got "Never"' },
  { name: 'activeDeadlineSeconds on long-running pods', kind: 'CloneSet', mutate: (m) => { pod(m).activeDeadlineSeconds = 30; },
    rule: 'cloneset/active-deadline', path: 'spec.template.spec.activeDeadlineSeconds', message: 'activeDeadlineSeconds is not supported in a CloneSet pod template' },
  { name: 'a progress deadline not above minReadySeconds', kind: 'CloneSet', mutate: (m) => Object.assign(m.spec, { minReadySeconds: 60, progressDeadlineSeconds: 60 }),
    rule: 'cloneset/progress-deadline', path: 'spec.progressDeadlineSeconds', message: 'progressDeadlineSeconds (60) must be greater than minReadySeconds (60)' },
  { name: 'a pod to delete listed twice', kind: 'CloneSet', mutate: (m) => { m.spec.scaleStrategy = { podsToDelete: ['a', 'b', 'a'] }; },
    rule: 'cloneset/pods-to-delete', path: 'spec.scaleStrategy.podsToDelete', message: 'pods listed twice: a' },
  { name: 'a mount of an undeclared volume', kind: 'CloneSet', mutate: (m) => { pod(m).containers[0].volumeMounts = [{ name: 'data', mountPath: '/data' }]; },
    rule: 'pod/volume-mount', path: 'spec.template.spec.containers[0].volumeMounts[0].name', message: 'mounts volume "data", which the pod does not declare' },
  { name: 'a container without an image', kind: 'CloneSet', mutate: (m) => { delete pod(m).containers[0].image; },
    rule: 'pod/image-required', path: 'spec.template.spec.containers[0].image', message: 'the container has no image' },

  // Advanced StatefulSet
  { name: 'maxUnavailable other than 1 without Parallel', kind: 'StatefulSet', mutate: (m) => Object.assign(ru(m), { maxUnavailable: 2 }),
    rule: 'statefulset/max-unavailable-parallel', path: 'spec.updateStrategy.rollingUpdate.maxUnavailable', message: 'maxUnavailable 2 needs podManagementPolicy Parallel' },
  { name: 'maxUnavailable 0 with Parallel', kind: 'StatefulSet', mutate: (m) => { m.spec.podManagementPolicy = 'Parallel'; Object.assign(ru(m), { maxUnavailable: 0 }); },
    rule: 'statefulset/max-unavailable', path: 'spec.updateStrategy.rollingUpdate.maxUnavailable', message: 'must be at least 1, got 0' },
  { name: 'an update priority without Parallel', kind: 'StatefulSet', mutate: (m) => Object.assign(ru(m), { unorderedUpdate: { priorityStrategy: { orderPriority: [{ orderedKey: 'k' }] } } }),
    rule: 'statefulset/unordered-update-parallel', path: 'spec.updateStrategy.rollingUpdate.unorderedUpdate', message: 'unorderedUpdate (an update priority) needs podManagementPolicy Parallel' },
  { name: 'rollingUpdate with OnDelete', kind: 'StatefulSet', mutate: (m) => { m.spec.updateStrategy = { type: 'OnDelete', rollingUpdate: {} }; },
    rule: 'statefulset/on-delete-rolling-update', path: 'spec.updateStrategy.rollingUpdate', message: 'rollingUpdate is only allowed with update type RollingUpdate' },
  { name: 'in-place updates without the InPlaceUpdateReady gate', kind: 'StatefulSet', mutate: (m) => Object.assign(ru(m), { podUpdatePolicy: 'InPlaceIfPossible' }),
    rule: 'statefulset/in-place-readiness-gate', path: 'spec.template.spec.readinessGates', message: 'podUpdatePolicy InPlaceIfPossible needs the readiness gate InPlaceUpdateReady in the pod template' },
  { name: 'minReadySeconds above 300', kind: 'StatefulSet', mutate: (m) => Object.assign(ru(m), { minReadySeconds: 301 }),
    rule: 'statefulset/min-ready', path: 'spec.updateStrategy.rollingUpdate.minReadySeconds', message: 'minReadySeconds must be between 0 and 300, got 301' },
  { name: 'a reserved ordinal written as a string', kind: 'StatefulSet', mutate: (m) => { m.spec.reserveOrdinals = ['3']; },
    rule: 'statefulset/reserve-ordinals', path: 'spec.reserveOrdinals[0]', message: '"3" is not an ordinal or a range such as "3-5"' },
  { name: 'a reversed ordinal range', kind: 'StatefulSet', mutate: (m) => { m.spec.reserveOrdinals = ['5-3']; },
    rule: 'statefulset/reserve-ordinals', path: 'spec.reserveOrdinals[0]', message: 'range "5-3" starts after it ends' },
  { name: 'a name with a dot (StatefulSet names are DNS labels)', kind: 'StatefulSet', mutate: (m) => { m.metadata.name = 'zk.main'; },
    rule: 'object/name-invalid', path: 'metadata.name', message: 'name "zk.main" is not a valid DNS label (lowercase letters, digits and \'-\', at most 63, no dots)' },

  // Advanced DaemonSet
  { name: 'maxSurge with a non-zero maxUnavailable', kind: 'DaemonSet', mutate: (m) => Object.assign(ru(m), { maxSurge: 1, maxUnavailable: 1 }),
    rule: 'daemonset/surge-and-unavailable', path: 'spec.updateStrategy.rollingUpdate.maxSurge', message: 'maxSurge must be 0 when maxUnavailable is non-zero (got maxSurge 1, maxUnavailable 1)' },
  { name: 'maxUnavailable 0 alone (Kruise only defaults when both are unset)', kind: 'DaemonSet', mutate: (m) => Object.assign(ru(m), { maxUnavailable: 0 }),
    rule: 'daemonset/no-progress', path: 'spec.updateStrategy.rollingUpdate.maxUnavailable', message: 'maxUnavailable and maxSurge are both 0, so an update could never start' },
  { name: 'surge with in-place updates', kind: 'DaemonSet', mutate: (m) => Object.assign(ru(m), { rollingUpdateType: 'InPlaceIfPossible', maxSurge: 1, maxUnavailable: 0 }),
    rule: 'daemonset/in-place-max-surge', path: 'spec.updateStrategy.rollingUpdate.maxSurge', message: 'maxSurge must be 0 with rollingUpdateType InPlaceIfPossible, got 1' },
  { name: 'a partition above 100%', kind: 'DaemonSet', mutate: (m) => Object.assign(ru(m), { partition: '150%' }),
    rule: 'daemonset/partition', path: 'spec.updateStrategy.rollingUpdate.partition', message: 'must not be more than 100%, got "150%"' },
  { name: 'a malformed maxUnavailable (Kruise would silently read 0)', kind: 'DaemonSet', mutate: (m) => Object.assign(ru(m), { maxUnavailable: 'abc' }),
    rule: 'daemonset/max-unavailable', path: 'spec.updateStrategy.rollingUpdate.maxUnavailable', message: '"abc" is not a number of pods or a whole percentage' },
  { name: 'an in-place lifecycle hook', kind: 'DaemonSet', mutate: (m) => { m.spec.lifecycle = { inPlaceUpdate: { markPodNotReady: true } }; },
    rule: 'daemonset/in-place-hook', path: 'spec.lifecycle.inPlaceUpdate', message: 'the inPlaceUpdate lifecycle hook is not supported for DaemonSets yet' },

  // SidecarSet
  { name: 'an update selector with a non-zero partition', kind: 'SidecarSet', mutate: (m) => Object.assign(us(m), { selector: { matchLabels: { canary: 'true' } }, partition: 2 }),
    rule: 'sidecarset/selector-and-partition', path: 'spec.updateStrategy', message: 'an update selector cannot be combined with a partition (got partition 2)' },
  { name: 'an update selector with partition "0%" (any string counts as set)', kind: 'SidecarSet', mutate: (m) => Object.assign(us(m), { selector: { matchLabels: { canary: 'true' } }, partition: '0%' }),
    rule: 'sidecarset/selector-and-partition', path: 'spec.updateStrategy', message: 'an update selector cannot be combined with a partition (got partition "0%")' },
  { name: 'no pod selector', kind: 'SidecarSet', mutate: (m) => { delete m.spec.selector; },
    rule: 'sidecarset/selector', path: 'spec.selector', message: 'a selector is required' },
  { name: 'no containers at all', kind: 'SidecarSet', mutate: (m) => { delete m.spec.containers; },
    rule: 'sidecarset/containers-required', path: 'spec', message: 'a SidecarSet needs at least one container or init container' },
  { name: 'a namespace on a cluster-scoped object', kind: 'SidecarSet', mutate: (m) => { m.metadata.namespace = 'shop'; },
    rule: 'sidecarset/namespace', path: 'metadata.namespace', message: 'a SidecarSet is cluster-scoped and has no namespace' },
  { name: 'maxUnavailable 0 (accepted by Kruise, but nothing upgrades)', kind: 'SidecarSet', mutate: (m) => Object.assign(us(m), { maxUnavailable: 0 }), severity: 'warning',
    rule: 'sidecarset/max-unavailable-zero', path: 'spec.updateStrategy.maxUnavailable', message: 'maxUnavailable is 0, so no sidecar will ever be upgraded' },
  { name: 'a native-sidecar init container with rolling upgrades', kind: 'SidecarSet', mutate: (m) => { m.spec.initContainers = [{ name: 'proxy', image: 'p:1', restartPolicy: 'Always' }]; },
    rule: 'sidecarset/native-sidecar-upgrade', path: 'spec.updateStrategy', message: 'init containers with restartPolicy Always cannot be upgraded in place' },
  { name: 'transferEnv from an unsupported field', kind: 'SidecarSet',
    mutate: (m) => { m.spec.containers[0].transferEnv = [{ sourceContainerNameFrom: { fieldRef: { fieldPath: 'metadata.name' } }, envName: 'X' }]; },
    rule: 'sidecarset/transfer-env', path: 'spec.containers[0].transferEnv[0].sourceContainerNameFrom.fieldRef.fieldPath',
    message: '"metadata.name" is not supported: only metadata.labels[\'<key>\'] or metadata.annotations[\'<key>\']' },
  { name: 'a sidecar mounting a volume the SidecarSet does not declare', kind: 'SidecarSet', mutate: (m) => { m.spec.containers[0].volumeMounts = [{ name: 'logs', mountPath: '/logs' }]; },
    rule: 'pod/volume-mount', path: 'spec.containers[0].volumeMounts[0].name', message: 'mounts volume "logs", which the pod does not declare' },
  { name: 'a name with a dot', kind: 'SidecarSet', mutate: (m) => { m.metadata.name = 'log.shipper'; },
    rule: 'object/name-invalid', path: 'metadata.name', message: 'SidecarSet name "log.shipper" must be at most 63 letters, digits or \'-\'' },

  // UnitedDeployment
  { name: 'a partition for an unknown subset', kind: 'UnitedDeployment', mutate: (m) => { m.spec.updateStrategy = { type: 'Manual', manualUpdate: { partitions: { 'zone-c': 1 } } }; },
    rule: 'uniteddeployment/partition-unknown-subset', path: 'spec.updateStrategy.manualUpdate.partitions.zone-c', message: 'partition for subset "zone-c", which does not exist' },
  { name: 'two templates', kind: 'UnitedDeployment', mutate: (m) => { m.spec.template.deploymentTemplate = m.spec.template.cloneSetTemplate; },
    rule: 'uniteddeployment/template', path: 'spec.template', message: 'set only one template, got cloneSetTemplate and deploymentTemplate' },
  { name: 'no template', kind: 'UnitedDeployment', mutate: (m) => { m.spec.template = {}; },
    rule: 'uniteddeployment/template', path: 'spec.template', message: 'set exactly one of statefulSetTemplate, advancedStatefulSetTemplate, cloneSetTemplate or deploymentTemplate' },
  { name: 'subsets mixing replicas with min/max', kind: 'UnitedDeployment', mutate: (m) => { m.spec.topology.subsets[1].maxReplicas = 4; },
    rule: 'uniteddeployment/replicas-and-min-max', path: 'spec.topology.subsets', message: 'subsets cannot mix replicas with minReplicas/maxReplicas' },
  { name: 'subsets asking for more pods than the UnitedDeployment has', kind: 'UnitedDeployment', mutate: (m) => { m.spec.topology.subsets[1].replicas = 5; m.spec.topology.subsets.push({ name: 'zone-c' }); },
    rule: 'uniteddeployment/subset-sum', path: 'spec.topology.subsets', message: 'the subsets ask for 8 pods, more than the UnitedDeployment\'s replicas 6' },
  { name: 'subsets that all set replicas but do not add up', kind: 'UnitedDeployment', mutate: (m) => { m.spec.topology.subsets[1].replicas = 2; },
    rule: 'uniteddeployment/subset-sum', path: 'spec.topology.subsets', message: 'every subset sets replicas and they add up to 5, not the UnitedDeployment\'s replicas 6' },
  { name: 'subsets with replicas and no UnitedDeployment replicas (Kruise defaults to 1)', kind: 'UnitedDeployment',
    mutate: (m) => { delete m.spec.replicas; m.spec.topology.subsets[1].replicas = 3; },
    rule: 'uniteddeployment/subset-sum', path: 'spec.topology.subsets', message: 'the subsets ask for 6 pods, more than the UnitedDeployment\'s replicas 1 (unset, so Kruise uses 1)' },
  { name: 'a subset percentage above 100%', kind: 'UnitedDeployment', mutate: (m) => { m.spec.topology.subsets[0].replicas = '150%'; },
    rule: 'uniteddeployment/subset-replicas', path: 'spec.topology.subsets[0].replicas', message: 'must be between 0% and 100%, got "150%"' },
  { name: 'a duplicated subset name', kind: 'UnitedDeployment', mutate: (m) => { m.spec.topology.subsets[1].name = 'zone-a'; },
    rule: 'uniteddeployment/subset-name', path: 'spec.topology.subsets[1].name', message: 'subset name "zone-a" is used twice' },
  { name: 'replicas inside a statefulSetTemplate', kind: 'UnitedDeployment',
    mutate: (m) => { m.spec.template = { statefulSetTemplate: { ...m.spec.template.cloneSetTemplate, spec: { ...m.spec.template.cloneSetTemplate.spec, updateStrategy: undefined, replicas: 2 } } }; },
    rule: 'uniteddeployment/template-replicas', path: 'spec.template.statefulSetTemplate.spec.replicas', message: 'replicas in statefulSetTemplate are not used' },
  { name: 'a subset CloneSet that the CloneSet webhook would reject', kind: 'UnitedDeployment',
    mutate: (m) => { m.spec.template.cloneSetTemplate.spec.updateStrategy = { type: 'InPlaceOnly', maxSurge: 1 }; },
    rule: 'cloneset/in-place-only-max-surge', path: 'spec.template.cloneSetTemplate.spec.updateStrategy.maxSurge', message: 'maxSurge must be 0 with update type InPlaceOnly, got 1' },

  // BroadcastJob
  { name: 'a TTL on a job that never completes', kind: 'BroadcastJob', mutate: (m) => { m.spec.completionPolicy = { type: 'Never', ttlSecondsAfterFinished: 60 }; },
    rule: 'broadcastjob/never-completes', path: 'spec.completionPolicy.ttlSecondsAfterFinished',
    message: 'ttlSecondsAfterFinished needs completion policy Always: a job that never completes has no end to count from' },
  { name: 'an active deadline on a job that never completes', kind: 'BroadcastJob', mutate: (m) => { m.spec.completionPolicy = { type: 'Never', activeDeadlineSeconds: 60 }; },
    rule: 'broadcastjob/never-completes', path: 'spec.completionPolicy.activeDeadlineSeconds',
    message: 'activeDeadlineSeconds needs completion policy Always: a job that never completes has no end to count from' },
  { name: 'no restart policy (Kruise defaults to Always, then rejects it)', kind: 'BroadcastJob', mutate: (m) => { delete pod(m).restartPolicy; },
    rule: 'broadcastjob/restart-policy', path: 'spec.template.spec.restartPolicy', message: 'restartPolicy must be Never or OnFailure, got "Always" (the default when unset)' },
  { name: 'a preset Kruise label', kind: 'BroadcastJob', mutate: (m) => { m.spec.template.metadata.labels['broadcastjob-name'] = 'x'; },
    rule: 'broadcastjob/reserved-label', path: 'spec.template.metadata.labels', message: 'pod label broadcastjob-name is set by Kruise and must not be preset' },

  // AdvancedCronJob
  { name: 'day of week 7', kind: 'AdvancedCronJob', mutate: (m) => { m.spec.schedule = '0 0 * * 7'; },
    rule: 'cronjob/schedule', path: 'spec.schedule', message: 'invalid schedule "0 0 * * 7": day of week "7": 7 is outside 0-6 (Sunday is 0, not 7)' },
  { name: 'a seconds field', kind: 'AdvancedCronJob', mutate: (m) => { m.spec.schedule = '0 0 3 * * *'; },
    rule: 'cronjob/schedule', path: 'spec.schedule', message: 'invalid schedule "0 0 3 * * *": expected 5 fields (minute hour day-of-month month day-of-week), found 6' },
  { name: 'an unknown descriptor', kind: 'AdvancedCronJob', mutate: (m) => { m.spec.schedule = '@reboot'; },
    rule: 'cronjob/schedule', path: 'spec.schedule', message: 'invalid schedule "@reboot": unknown descriptor "@reboot" (use @yearly, @monthly, @weekly, @daily, @hourly or @every <duration>)' },
  { name: 'an out-of-range hour', kind: 'AdvancedCronJob', mutate: (m) => { m.spec.schedule = '0 24 * * *'; },
    rule: 'cronjob/schedule', path: 'spec.schedule', message: 'invalid schedule "0 24 * * *": hour "24": 24 is outside 0-23' },
  { name: 'a TZ= prefix and timeZone together', kind: 'AdvancedCronJob', mutate: (m) => { m.spec.schedule = 'TZ=UTC 0 3 * * *'; m.spec.timeZone = 'UTC'; },
    rule: 'cronjob/time-zone-twice', path: 'spec.schedule', message: 'the schedule has a TZ= prefix and spec.timeZone is set too' },
  { name: 'an unknown time zone', kind: 'AdvancedCronJob', mutate: (m) => { m.spec.timeZone = 'Mars/Olympus_Mons'; },
    rule: 'cronjob/time-zone', path: 'spec.timeZone', message: 'unknown time zone "Mars/Olympus_Mons"' },
  { name: 'the Local time zone', kind: 'AdvancedCronJob', mutate: (m) => { m.spec.timeZone = 'Local'; },
    rule: 'cronjob/time-zone', path: 'spec.timeZone', message: 'timeZone must name an explicit IANA zone, not Local' },
  { name: 'two templates', kind: 'AdvancedCronJob', mutate: (m) => { m.spec.template.jobTemplate = { spec: { template: m.spec.template.broadcastJobTemplate.spec.template } }; },
    rule: 'cronjob/template', path: 'spec.template', message: 'set only one template, got jobTemplate and broadcastJobTemplate' },
  { name: 'a Job template whose pods would restart forever', kind: 'AdvancedCronJob',
    mutate: (m) => { const t = m.spec.template.broadcastJobTemplate.spec.template; t.spec.restartPolicy = 'Always'; m.spec.template = { jobTemplate: { spec: { template: t } } }; },
    rule: 'cronjob/restart-policy', path: 'spec.template.jobTemplate.spec.template.spec.restartPolicy', message: 'restartPolicy must be Never or OnFailure, got "Always"' },
  { name: 'a broadcast template that never completes but has a TTL', kind: 'AdvancedCronJob',
    mutate: (m) => { m.spec.template.broadcastJobTemplate.spec.completionPolicy = { type: 'Never', ttlSecondsAfterFinished: 5 }; },
    rule: 'broadcastjob/never-completes', path: 'spec.template.broadcastJobTemplate.spec.completionPolicy.ttlSecondsAfterFinished',
    message: 'ttlSecondsAfterFinished needs completion policy Always: a job that never completes has no end to count from' },
];

describe('Kruise webhook rules', () => {
  it.each(Object.keys({ CloneSet: 1, StatefulSet: 1, DaemonSet: 1, SidecarSet: 1, UnitedDeployment: 1, BroadcastJob: 1, AdvancedCronJob: 1 }) as Kind[])(
    'the base %s is valid', (kind) => {
      expect(checkRules(base(kind))).toEqual([]);
    });

  it.each(cases)('$kind: $name', (c) => {
    const found = violations(c.kind, c.mutate);
    expect(found).toContainEqual(expect.objectContaining({ rule: c.rule, path: c.path, message: c.message, severity: c.severity ?? 'error' }));
  });
});

describe('values Kruise accepts', () => {
  it.each([
    ['CloneSet InPlaceOnly with maxSurge "0%"', 'CloneSet', (m: any) => Object.assign(us(m), { type: 'InPlaceOnly', maxSurge: '0%' })],
    ['CloneSet decimal percentages (Kruise parses them as floats)', 'CloneSet', (m: any) => Object.assign(us(m), { partition: '12.5%', maxUnavailable: '37.5%' })],
    ['CloneSet maxUnavailable "1%" of 4 pods (rounds up to 1)', 'CloneSet', (m: any) => Object.assign(us(m), { maxUnavailable: '1%' })],
    ['SidecarSet selector with partition 0', 'SidecarSet', (m: any) => Object.assign(us(m), { selector: { matchLabels: { c: 'y' } }, partition: 0 })],
    ['SidecarSet selector and partition under NotUpdate', 'SidecarSet', (m: any) => Object.assign(us(m), { type: 'NotUpdate', selector: { matchLabels: { c: 'y' } }, partition: 3 })],
    ['DaemonSet surge alone', 'DaemonSet', (m: any) => Object.assign(ru(m), { maxSurge: 1 })],
    ['StatefulSet Parallel with maxUnavailable "50%"', 'StatefulSet', (m: any) => { m.spec.podManagementPolicy = 'Parallel'; Object.assign(ru(m), { maxUnavailable: '50%' }); }],
    ['StatefulSet reserved ordinals', 'StatefulSet', (m: any) => { m.spec.reserveOrdinals = [1, '3-5', '7-7']; }],
    ['UnitedDeployment percentage subsets', 'UnitedDeployment', (m: any) => { m.spec.topology.subsets[0].replicas = '50%'; }],
    ['cron with a TZ prefix', 'AdvancedCronJob', (m: any) => { m.spec.schedule = 'TZ=Europe/Berlin 30 3 * * *'; }],
    ['cron with names, steps and ranges', 'AdvancedCronJob', (m: any) => { m.spec.schedule = '*/15 9-17 * jan-jun mon-fri'; }],
    ['cron @every', 'AdvancedCronJob', (m: any) => { m.spec.schedule = '@every 1h30m'; }],
  ] as [string, Kind, (m: any) => void][])('%s', (_name, kind, mutate) => {
    expect(violations(kind, mutate).filter((d) => d.severity === 'error')).toEqual([]);
  });
});
