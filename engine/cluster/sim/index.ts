/**
 * SimCluster: the in-process simulated cluster (apiserver storage semantics + OpenKruise v1.9
 * controllers + a kubelet) behind the Cluster interface. See README.md in this directory.
 */
export { SimCluster, SYSTEM_NAMESPACES, type SimClusterOptions, type SimNode, type SimRequestRecord } from './cluster.js';
export type { FaultHandle, FaultRule, SimRequest, SimVerb } from './faults.js';
export { DEFAULT_TIMING, type SimTiming } from './runtime.js';
export { describePath, toFieldsV1 } from './fields.js';
export { parseSelector, matchesRequirements, labelSelectorString } from './selector.js';
