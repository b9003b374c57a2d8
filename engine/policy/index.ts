/**
 * kruise-gitops policies: `import { definePolicy, policySet } from 'kruise-gitops/policy'`.
 * Files in `policies/` next to cdk8s.yaml default-export a policy, a list of policies, or a
 * policySet (which also configures the built-in pack).
 */
export { definePolicy, isKind, KIND_NAMES, type KindManifests, type KindName, type Plain, type Policy, type PolicyContext, type PolicyDefinition, type PolicyTarget, type ReportOptions } from './api.js';
export { type BuiltinPolicyConfig, builtinPolicies, DEFAULT_TAG_PATTERN } from './builtin.js';
export { containersOf, podTemplates } from './pods.js';
export { evaluatePolicies, policySet, type PolicySet } from './run.js';
