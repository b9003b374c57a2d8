/**
 * kruise-gitops DSL: typed cdk8s constructs for OpenKruise workloads.
 *
 *   import { App, CloneSet, CloneSetUpdateStrategy } from 'kruise-gitops';
 */
export { App, type KruiseAppProps, type RenderedObject, type RenderResult, type SynthProtocolOutput, SYNTH_OUTPUT_ENV, writeManifests } from './app.js';
export * from './arithmetic.js';
export * from './diagnostics.js';
export { checkRules } from './rules.js';
export * from './workloads/common.js';
export { Gate, Release, Step, ANNOTATION_RELEASE_PLAN, type ReleasePlanSpec, type StepSpec, type GateSpec, validateReleasePlan } from './release.js';
export { Fleet, type FleetProps, Wave } from './fleet.js';
export { type FleetPlanSpec, type WaveSpec, type ClusterSelectorSpec, FLEET_PLAN_API_VERSION, FLEET_PLAN_KIND, validateFleetPlan } from './fleet-plan.js';
export { KruiseWorkload, type KruiseApiVersion, type KruiseWorkloadProps, type PodTemplateAsWritten, type ReleasableProps, type VersionedProps } from './workloads/base.js';
export * from './workloads/cloneset.js';
export * from './workloads/advanced-statefulset.js';
export * from './workloads/advanced-daemonset.js';
export * from './workloads/sidecarset.js';
export * from './workloads/united-deployment.js';
export * from './workloads/broadcast-job.js';
export * from './workloads/advanced-cronjob.js';
export * as kruise from './imports/apps.kruise.io.js';
export * as kruisePolicy from './imports/policy.kruise.io.js';
export { KruiseObject, type KruiseObjectProps, type Targetable, type TargetReference } from './features/base.js';
export * from './features/workload-spread.js';
export * from './features/pod-unavailable-budget.js';
export * from './features/persistent-pod-state.js';
export * from './features/image-pull-job.js';
export * from './features/pod-probe-marker.js';
export * from './features/resource-distribution.js';
export * from './features/container-recreate-request.js';
export * from './features/ephemeral-job.js';
