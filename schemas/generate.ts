/**
 * Regenerates schemas/ from the OpenKruise CRDs and the Kubernetes API definitions.
 *
 *   npm run schemas            (reads schemas/sources: npm run copy-sources copies them from ../shared)
 *
 * Output (all generated, never edit by hand):
 *   kubernetes-v1.32.0.json  core definitions, descriptions stripped, closed objects
 *   kruise-v1.9.0.json       one definition per CRD kind and served version
 *   index.json               apiVersion/kind -> definition, scope, plural
 *
 * Kruise CRDs leave pod templates, volumeClaimTemplates, SidecarSet volumes and the
 * UnitedDeployment templates schemaless (x-kubernetes-preserve-unknown-fields); the
 * apiserver accepts anything there. We plug the Kubernetes definitions into those holes
 * so that a typo in a container spec fails here instead of at pod creation.
 * Objects that the CRD describes with properties are closed (additionalProperties: false):
 * the apiserver would prune an unknown field silently, which is worse than an error.
 */
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';

type Json = any;

const here = dirname(fileURLToPath(import.meta.url));
const sources = join(here, 'sources');
const KRUISE_VERSION = 'v1.9.0';
const K8S_VERSION = 'v1.32.0';
export const K8S_SCHEMA_ID = `kubernetes-${K8S_VERSION}.json`;
export const KRUISE_SCHEMA_ID = `kruise-${KRUISE_VERSION}.json`;

const k8sRef = (name: string) => ({ $ref: `${K8S_SCHEMA_ID}#/definitions/${name}` });
const POD_TEMPLATE = 'io.k8s.api.core.v1.PodTemplateSpec';
const OBJECT_META = 'io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta';
const PVC = 'io.k8s.api.core.v1.PersistentVolumeClaim';
const pvcList = () => ({ type: 'array', items: k8sRef(PVC) });

/** Keywords we keep from OpenAPI v3 / Swagger 2 schemas; everything else is dropped. */
const KEEP = new Set([
  'type', 'required', 'enum', 'format', 'minimum', 'maximum', 'exclusiveMinimum', 'exclusiveMaximum',
  'minLength', 'maxLength', 'pattern', 'minItems', 'maxItems', 'uniqueItems', 'minProperties', 'maxProperties',
]);

/**
 * Converts one OpenAPI node into JSON Schema (draft-07, as ajv compiles it).
 * `holes` maps a dotted path (".spec.template", ".spec.containers[]") to the schema that
 * replaces a preserve-unknown node at that path.
 */
function convert(node: Json, path: string, holes: Record<string, Json>, refPrefix: string): Json {
  if (holes[path]) return holes[path];
  if (node === true || node === false) return node;
  if (typeof node !== 'object' || node === null) return {};
  if (node.$ref) return { $ref: refPrefix + node.$ref };
  const out: Json = {};
  for (const [k, v] of Object.entries(node)) if (KEEP.has(k)) out[k] = v;
  if (node['x-kubernetes-int-or-string']) {
    delete out.type;
    out.anyOf = [{ type: 'integer' }, { type: 'string' }];
  } else {
    for (const comb of ['anyOf', 'oneOf', 'allOf'] as const) {
      if (Array.isArray(node[comb])) out[comb] = node[comb].map((s: Json) => convert(s, path, {}, refPrefix));
    }
  }
  if (node.nullable && typeof out.type === 'string') out.type = [out.type, 'null'];
  if (node.properties) {
    out.properties = {};
    for (const [k, v] of Object.entries(node.properties)) {
      out.properties[k] = convert(v, `${path}.${k}`, holes, refPrefix);
    }
  }
  if (node.items) out.items = convert(node.items, `${path}[]`, holes, refPrefix);
  if (node.additionalProperties !== undefined && typeof node.additionalProperties === 'object') {
    out.additionalProperties = convert(node.additionalProperties, `${path}{}`, holes, refPrefix);
  } else if (node.additionalProperties !== undefined) {
    out.additionalProperties = node.additionalProperties;
  }
  const preserve = node['x-kubernetes-preserve-unknown-fields'] === true;
  if (node.properties && out.additionalProperties === undefined) out.additionalProperties = preserve;
  if (node['x-kubernetes-embedded-resource']) {
    out.type = 'object';
    out.required = [...new Set([...(out.required ?? []), 'apiVersion', 'kind'])];
  }
  if (preserve && !node.properties && !node.type) out.type = 'object';
  return out;
}

function loadKubernetes(): Record<string, Json> {
  const raw = JSON.parse(readFileSync(join(sources, `kubernetes-definitions-${K8S_VERSION}.json`), 'utf8'));
  const defs: Record<string, Json> = {};
  for (const [name, def] of Object.entries<Json>(raw.definitions)) {
    defs[name] = convert(def, '', {}, '');
  }
  return defs;
}

/** A copy of a Kubernetes definition for use inside the Kruise file (its local refs made absolute). */
function embedK8s(def: Json): Json {
  return JSON.parse(JSON.stringify(def).replaceAll('"#/definitions/', `"${K8S_SCHEMA_ID}#/definitions/`));
}

/** A Kubernetes definition without some of its required fields (UnitedDeployment fills them in). */
function relaxed(defs: Record<string, Json>, name: string, drop: string[]): Json {
  const d = embedK8s(defs[name]);
  d.required = (d.required ?? []).filter((r: string) => !drop.includes(r));
  if (d.required.length === 0) delete d.required;
  return d;
}

/** The schema holes of each Kruise kind, keyed by kind then path. */
function holesFor(kind: string, crdSchema: Json, k8s: Record<string, Json>, kruiseDefs: Record<string, Json>): Record<string, Json> {
  const common = { '.metadata': k8sRef(OBJECT_META) };
  const podTemplate = k8sRef(POD_TEMPLATE);
  switch (kind) {
    case 'CloneSet':
    case 'StatefulSet':
      return { ...common, '.spec.template': podTemplate, '.spec.volumeClaimTemplates': pvcList() };
    case 'DaemonSet':
    case 'BroadcastJob':
      return { ...common, '.spec.template': podTemplate };
    case 'EphemeralJob':
      return { ...common, '.spec.template.ephemeralContainers': { type: 'array', items: k8sRef('io.k8s.api.core.v1.EphemeralContainer') } };
    case 'AdvancedCronJob':
      return {
        ...common,
        '.spec.template.jobTemplate': k8sRef('io.k8s.api.batch.v1.JobTemplateSpec'),
        '.spec.template.broadcastJobTemplate.spec.template': podTemplate,
      };
    case 'SidecarSet': {
      // A sidecar container is a core Container plus Kruise's sidecar fields.
      const container = embedK8s(k8s['io.k8s.api.core.v1.Container']);
      const sidecarContainer = (list: string) => {
        const extras = crdSchema.properties.spec.properties[list].items.properties;
        const converted = convert({ type: 'object', properties: extras }, '', {}, K8S_SCHEMA_ID).properties;
        return { ...container, properties: { ...container.properties, ...converted }, additionalProperties: false };
      };
      return {
        ...common,
        '.spec.volumes': { type: 'array', items: k8sRef('io.k8s.api.core.v1.Volume') },
        '.spec.containers[]': sidecarContainer('containers'),
        '.spec.initContainers[]': sidecarContainer('initContainers'),
      };
    }
    case 'UnitedDeployment': {
      const cloneSetSpec = kruiseDefs[`apps.kruise.io.v1alpha1.CloneSet`]?.properties?.spec;
      const astsSpec = kruiseDefs[`apps.kruise.io.v1beta1.StatefulSet`]?.properties?.spec;
      if (!cloneSetSpec || !astsSpec) throw new Error('UnitedDeployment needs CloneSet and StatefulSet converted first');
      // The subset specs keep the selector their CRD requires: Kruise replaces it in every
      // subset it creates, but the apiserver rejects a cloneSetTemplate or
      // advancedStatefulSetTemplate without one. The statefulSetTemplate and deploymentTemplate
      // specs are schemaless in the CRD, so there the apiserver accepts a missing selector.
      return {
        ...common,
        '.spec.template.cloneSetTemplate.metadata': k8sRef(OBJECT_META),
        '.spec.template.cloneSetTemplate.spec': structuredClone(cloneSetSpec),
        '.spec.template.advancedStatefulSetTemplate.metadata': k8sRef(OBJECT_META),
        '.spec.template.advancedStatefulSetTemplate.spec': structuredClone(astsSpec),
        '.spec.template.statefulSetTemplate.metadata': k8sRef(OBJECT_META),
        '.spec.template.statefulSetTemplate.spec': relaxed(k8s, 'io.k8s.api.apps.v1.StatefulSetSpec', ['selector', 'serviceName']),
        '.spec.template.deploymentTemplate.metadata': k8sRef(OBJECT_META),
        '.spec.template.deploymentTemplate.spec': relaxed(k8s, 'io.k8s.api.apps.v1.DeploymentSpec', ['selector']),
        '.spec.topology.subsets[].patch': { type: 'object' },
      };
    }
    default:
      return common;
  }
}

/** Core kinds that are cluster-scoped (the definitions file does not say). */
const CLUSTER_SCOPED_CORE = new Set([
  'Namespace', 'Node', 'PersistentVolume', 'ComponentStatus', 'ClusterRole', 'ClusterRoleBinding',
  'CustomResourceDefinition', 'APIService', 'StorageClass', 'CSIDriver', 'CSINode', 'VolumeAttachment',
  'IngressClass', 'PriorityClass', 'RuntimeClass', 'MutatingWebhookConfiguration', 'ValidatingWebhookConfiguration',
  'ValidatingAdmissionPolicy', 'ValidatingAdmissionPolicyBinding', 'MutatingAdmissionPolicy', 'MutatingAdmissionPolicyBinding',
  'FlowSchema', 'PriorityLevelConfiguration', 'CertificateSigningRequest', 'ClusterTrustBundle',
  'SelfSubjectReview', 'SelfSubjectAccessReview', 'SelfSubjectRulesReview', 'SubjectAccessReview', 'TokenReview',
  'StorageVersion', 'StorageVersionMigration', 'DeviceClass', 'ResourceSlice', 'VolumeAttributesClass', 'IPAddress', 'ServiceCIDR',
]);

interface IndexEntry {
  apiVersion: string;
  kind: string;
  ref: string;
  namespaced?: boolean;
  plural?: string;
  storage?: boolean;
}

function main(): void {
  const k8s = loadKubernetes();
  const index: IndexEntry[] = [];
  for (const [name, raw] of Object.entries<Json>(
    JSON.parse(readFileSync(join(sources, `kubernetes-definitions-${K8S_VERSION}.json`), 'utf8')).definitions,
  )) {
    for (const gvk of raw['x-kubernetes-group-version-kind'] ?? []) {
      if (!raw.properties?.kind) continue;
      const apiVersion = gvk.group ? `${gvk.group}/${gvk.version}` : gvk.version;
      index.push({ apiVersion, kind: gvk.kind, ref: `${K8S_SCHEMA_ID}#/definitions/${name}`, namespaced: !CLUSTER_SCOPED_CORE.has(gvk.kind) });
    }
  }

  const crdDir = join(sources, `kruise-${KRUISE_VERSION}`, 'crds');
  const crds = readdirSync(crdDir).filter((f) => f.endsWith('.yaml')).sort()
    .flatMap((f) => parseAllDocuments(readFileSync(join(crdDir, f), 'utf8')).map((d) => d.toJS()));
  // UnitedDeployment embeds CloneSet and StatefulSet specs, so convert those first.
  const order = (c: Json) => (c.spec.names.kind === 'UnitedDeployment' ? 1 : 0);
  crds.sort((a, b) => order(a) - order(b));

  const kruiseDefs: Record<string, Json> = {};
  for (const crd of crds) {
    const { group, names, scope } = crd.spec;
    for (const v of crd.spec.versions) {
      if (!v.served) continue;
      const holes = holesFor(names.kind, v.schema.openAPIV3Schema, k8s, kruiseDefs);
      const schema = convert(v.schema.openAPIV3Schema, '', holes, K8S_SCHEMA_ID);
      // Manifests never need status (the controller writes it); one that carries it is accepted with a
      // warning by the validator (engine/validate/schema.ts) where the kind has a status subresource.
      delete schema.properties.status;
      schema.properties.apiVersion = { const: `${group}/${v.name}` };
      schema.properties.kind = { const: names.kind };
      schema.required = ['apiVersion', 'kind', 'metadata', ...(schema.required ?? []).filter((r: string) => !['apiVersion', 'kind', 'metadata'].includes(r))];
      schema.additionalProperties = false;
      const key = `${group}.${v.name}.${names.kind}`;
      kruiseDefs[key] = schema;
      index.push({
        apiVersion: `${group}/${v.name}`, kind: names.kind, ref: `${KRUISE_SCHEMA_ID}#/definitions/${key}`,
        namespaced: scope === 'Namespaced', plural: names.plural, storage: v.storage === true,
        ...(v.subresources?.status !== undefined ? { statusSubresource: true } : {}),
      });
    }
  }

  const stamp = `Generated by schemas/generate.ts from schemas/sources (OpenKruise ${KRUISE_VERSION} CRDs, Kubernetes ${K8S_VERSION} definitions). Do not edit by hand; run npm run schemas.`;
  write(K8S_SCHEMA_ID, { $id: K8S_SCHEMA_ID, $comment: stamp, definitions: k8s });
  write(KRUISE_SCHEMA_ID, { $id: KRUISE_SCHEMA_ID, $comment: stamp, definitions: kruiseDefs });
  index.sort((a, b) => (a.apiVersion + a.kind).localeCompare(b.apiVersion + b.kind));
  write('index.json', { $comment: stamp, kruiseVersion: KRUISE_VERSION, kubernetesVersion: K8S_VERSION, kinds: index });
  console.log(`schemas: ${Object.keys(k8s).length} Kubernetes definitions, ${Object.keys(kruiseDefs).length} Kruise kind versions, ${index.length} indexed kinds`);
}

function write(name: string, value: Json): void {
  writeFileSync(join(here, name), JSON.stringify(value, null, 1) + '\n');
}

main();
