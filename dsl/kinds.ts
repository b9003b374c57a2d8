/**
 * What kruise-gitops knows about each apiVersion/kind offline: its schema, whether it is
 * namespaced, its plural. Read from schemas/index.json (generated from the CRDs and the
 * Kubernetes definitions).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PACKAGE_ROOT } from './package-root.js';

export interface KindInfo {
  readonly apiVersion: string;
  readonly kind: string;
  /** `<schema file>#/definitions/<name>` */
  readonly ref: string;
  readonly namespaced?: boolean;
  readonly plural?: string;
  readonly storage?: boolean;
  /** A CRD kind whose status is a subresource: the apiserver ignores a status in what is applied. */
  readonly statusSubresource?: boolean;
}

export const SCHEMAS_DIR = `${join(PACKAGE_ROOT, 'schemas')}/`;

let byKey: Map<string, KindInfo> | undefined;
let byGroupKind: Map<string, KindInfo[]> | undefined;

function load(): void {
  const index = JSON.parse(readFileSync(`${SCHEMAS_DIR}index.json`, 'utf8')) as { kinds: KindInfo[] };
  byKey = new Map();
  byGroupKind = new Map();
  for (const k of index.kinds) {
    byKey.set(`${k.apiVersion}/${k.kind}`, k);
    const gk = `${groupOf(k.apiVersion)}/${k.kind}`;
    byGroupKind.set(gk, [...(byGroupKind.get(gk) ?? []), k]);
  }
}

export function groupOf(apiVersion: string): string {
  const i = apiVersion.lastIndexOf('/');
  return i === -1 ? '' : apiVersion.slice(0, i);
}

export function kindInfo(apiVersion: string, kind: string): KindInfo | undefined {
  if (!byKey) load();
  return byKey!.get(`${apiVersion}/${kind}`);
}

/** Every known version of a group/kind (to say which versions are served when one is not). */
export function kindVersions(group: string, kind: string): KindInfo[] {
  if (!byGroupKind) load();
  return byGroupKind!.get(`${group}/${kind}`) ?? [];
}

/** False for cluster-scoped kinds; true for namespaced and for unknown kinds (custom resources). */
export function isNamespaced(apiVersion: string, kind: string): boolean {
  return kindInfo(apiVersion, kind)?.namespaced ?? true;
}
