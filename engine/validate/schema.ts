/**
 * JSON Schema validation of manifests against schemas/ (OpenKruise CRDs with the Kubernetes
 * definitions plugged into their schemaless holes, and the core Kubernetes kinds).
 *
 * One Ajv instance per process, created only when a validator must be compiled. Compiling a
 * kind with a pod template takes the better part of a second, so each compiled validator is also
 * kept on disk as code (Ajv's standalone output) under the cache directory, keyed by the schemas,
 * Ajv's version and options: later processes load it in milliseconds. A cache that cannot be
 * written (a read-only home, the sandbox) only costs the compile.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { Ajv, type ErrorObject, type ValidateFunction, _ } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { fullFormats } from 'ajv-formats/dist/formats.js';
import standaloneCode from 'ajv/dist/standalone/index.js';
import { type Diagnostic, joinPath } from '../../dsl/diagnostics.js';
import { groupOf, kindInfo, kindVersions, SCHEMAS_DIR } from '../../dsl/kinds.js';
import { FLEET_PLAN_API_VERSION, FLEET_PLAN_KIND } from '../../dsl/fleet-plan.js';

const addFormats = addFormatsModule as unknown as (ajv: Ajv, formats?: unknown) => Ajv;
const standalone = ((standaloneCode as unknown as { default?: unknown }).default ?? standaloneCode) as (ajv: Ajv, v: ValidateFunction) => string;

const INT32 = { min: -(2 ** 31), max: 2 ** 31 - 1 };
const SCHEMA_FILES = ['kubernetes-v1.32.0.json', 'kruise-v1.9.0.json'];
const AJV_OPTIONS = { allErrors: true, strict: false, validateFormats: true } as const;

/** Every format the schemas use: ajv-formats' and three of Kubernetes' own. Compiled code gets them as `__formats`. */
const FORMATS: Record<string, unknown> = {
  ...fullFormats,
  int32: { type: 'number', validate: (n: number) => Number.isInteger(n) && n >= INT32.min && n <= INT32.max },
  int64: { type: 'number', validate: (n: number) => Number.isInteger(n) },
  double: { type: 'number', validate: () => true },
};

/** For Ajv's runtime helpers (ajv/dist/runtime/*) that compiled code requires. */
const requireHere = createRequire(import.meta.url);
/** Bump when the code written to the cache changes shape. */
const CACHE_FORMAT = 1;

function defaultValidatorCache(): string {
  return join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'kruise-gitops', 'validators');
}

/** Groups whose kinds we know completely: an unknown version or kind there is an error, not a warning. */
const KNOWN_GROUPS = new Set(['apps.kruise.io', 'policy.kruise.io']);

export type SchemaDiagnostic = Omit<Diagnostic, 'object' | 'constructPath' | 'source'>;

export class SchemaValidator {
  private static shared?: SchemaValidator;
  private ajv?: Ajv;
  private readonly validators = new Map<string, ValidateFunction>();
  private readonly schemaTexts: string[];
  /** The directory of this schema set's compiled validators (undefined: no cache). */
  private readonly cacheDir: string | undefined;

  /** The process-wide validator (schemas are loaded once). */
  static get(): SchemaValidator {
    return (SchemaValidator.shared ??= new SchemaValidator(SCHEMAS_DIR));
  }

  /** @param cache the validator cache directory, or false for none @default ~/.cache/kruise-gitops/validators */
  constructor(schemasDir: string, o: { cache?: string | false } = {}) {
    this.schemaTexts = SCHEMA_FILES.map((f) => readFileSync(`${schemasDir}${f}`, 'utf8'));
    const root = o.cache ?? (process.env.KGITOPS_VALIDATOR_CACHE === 'off' ? false : defaultValidatorCache());
    if (root === false) {
      this.cacheDir = undefined;
    } else {
      const key = createHash('sha256');
      for (const t of this.schemaTexts) key.update(t);
      key.update(JSON.stringify({ ajv: (requireHere('ajv/package.json') as { version: string }).version, AJV_OPTIONS, CACHE_FORMAT }));
      this.cacheDir = join(root, key.digest('hex').slice(0, 16));
    }
  }

  /** The Ajv instance with the schemas, made on the first compile (a cache hit needs none). */
  private compiler(): Ajv {
    if (!this.ajv) {
      const ajv = new Ajv({ ...AJV_OPTIONS, code: { optimize: 1, source: this.cacheDir !== undefined, formats: _`__formats` } });
      addFormats(ajv);
      for (const [name, f] of Object.entries(FORMATS)) if (name === 'int32' || name === 'int64' || name === 'double') ajv.addFormat(name, f as never);
      for (const t of this.schemaTexts) ajv.addSchema(JSON.parse(t));
      this.ajv = ajv;
    }
    return this.ajv;
  }

  /** Validates one manifest; returns diagnostics with JSON paths (empty when valid). */
  validate(manifest: unknown): SchemaDiagnostic[] {
    if (manifest === null || typeof manifest !== 'object' || Array.isArray(manifest)) {
      return [{ severity: 'error', rule: 'schema/not-an-object', message: 'a manifest must be a YAML/JSON object' }];
    }
    const { apiVersion, kind } = manifest as { apiVersion?: unknown; kind?: unknown };
    if (typeof apiVersion !== 'string' || typeof kind !== 'string') {
      return [{
        severity: 'error', rule: 'schema/missing-type',
        message: 'apiVersion and kind must both be set to strings',
        hint: 'every Kubernetes object starts with apiVersion and kind, e.g. apps.kruise.io/v1alpha1 and CloneSet',
      }];
    }
    const info = kindInfo(apiVersion, kind);
    if (!info) return this.unknownKind(apiVersion, kind);
    const validate = this.validatorFor(info.ref);
    // A status (kubectl get -o yaml output, an exported object) on a kind whose status is a
    // subresource is dropped by the apiserver, not refused: said, and the rest validated.
    const notes: SchemaDiagnostic[] = [];
    let checked = manifest;
    if (info.statusSubresource && 'status' in manifest) {
      const { status: _status, ...rest } = manifest as Record<string, unknown>;
      checked = rest;
      notes.push({
        severity: 'warning', rule: 'schema/status-ignored', path: 'status',
        message: `${kind} has a status subresource: the apiserver ignores a status in what is applied, and the controller writes its own`,
        hint: 'remove status from the manifest (it is not part of what you declare)',
      });
    }
    if (validate(checked)) return notes;
    return [...notes, ...toDiagnostics(validate.errors ?? [], checked)];
  }

  /**
   * Compiles the validator of a kind ahead of its first object (false: no schema for it). The
   * first compile of a kind with a pod template costs the better part of a second.
   */
  prepare(apiVersion: string, kind: string): boolean {
    const info = kindInfo(apiVersion, kind);
    if (info) this.validatorFor(info.ref);
    return info !== undefined;
  }

  private validatorFor(ref: string): ValidateFunction {
    let v = this.validators.get(ref);
    if (!v) {
      v = this.cached(ref) ?? this.compile(ref);
      this.validators.set(ref, v);
    }
    return v;
  }

  private cacheFile(ref: string): string | undefined {
    return this.cacheDir && join(this.cacheDir, `${ref.replace(/[^A-Za-z0-9.-]+/g, '_')}.cjs`);
  }

  /** A validator compiled by an earlier process, if there is one. */
  private cached(ref: string): ValidateFunction | undefined {
    const file = this.cacheFile(ref);
    if (!file) return undefined;
    try {
      const build = requireHere(file) as (formats: unknown, require: NodeRequire) => ValidateFunction;
      return build(FORMATS, requireHere);
    } catch {
      return undefined; // not there (yet), or unreadable: compile it
    }
  }

  private compile(ref: string): ValidateFunction {
    const ajv = this.compiler();
    const v = ajv.compile({ $ref: ref });
    const file = this.cacheFile(ref);
    if (file) {
      try {
        // Ajv's standalone CommonJS module, wrapped to take the formats and a require for its runtime helpers.
        const code = `module.exports = function (__formats, require) {\nconst module = { exports: {} };\n${standalone(ajv, v)}\nreturn module.exports;\n};\n`;
        mkdirSync(this.cacheDir!, { recursive: true });
        const tmp = `${file}.${process.pid}.tmp`;
        writeFileSync(tmp, code);
        renameSync(tmp, file); // atomic: a concurrent process reads the old file or the new one
      } catch {
        // No cache here (read-only, full): this process keeps its compiled validator.
      }
    }
    return v;
  }

  private unknownKind(apiVersion: string, kind: string): SchemaDiagnostic[] {
    // A fleet's plan has no CRD (it is never applied): the rules check all of it.
    if (apiVersion === FLEET_PLAN_API_VERSION && kind === FLEET_PLAN_KIND) return [];
    const group = groupOf(apiVersion);
    const served = kindVersions(group, kind);
    if (served.length > 0) {
      return [{
        severity: 'error', rule: 'schema/version-not-served', path: 'apiVersion',
        message: `${kind} ${apiVersion} is not served by ${group.endsWith('kruise.io') ? 'OpenKruise v1.9.0' : 'Kubernetes 1.32'}`,
        hint: `use one of: ${served.map((s) => s.apiVersion).join(', ')}`,
      }];
    }
    if (KNOWN_GROUPS.has(group)) {
      return [{
        severity: 'error', rule: 'schema/unknown-kind', path: 'kind',
        message: `${group} has no kind ${kind} in OpenKruise v1.9.0`,
      }];
    }
    return [{
      severity: 'warning', rule: 'schema/no-schema',
      message: `no schema for ${kind} ${apiVersion}; it is not validated`,
      hint: 'custom resources of other operators are applied as written',
    }];
  }
}

/** Ajv instance path (`/spec/template/spec/containers/0`) to `spec.template.spec.containers[0]`. */
export function toJsonPath(instancePath: string): string {
  if (!instancePath) return '';
  return instancePath.split('/').slice(1).reduce<string>((acc, raw) => {
    const seg = raw.replaceAll('~1', '/').replaceAll('~0', '~');
    return joinPath(acc, /^\d+$/.test(seg) ? Number(seg) : seg);
  }, '');
}

/** The value at an Ajv instance path (`/spec/replicas`, `/data/a~1b`). */
function valueAt(root: unknown, instancePath: string): unknown {
  let node = root;
  for (const raw of instancePath.split('/').slice(1)) {
    if (node === null || typeof node !== 'object') return undefined;
    node = (node as Record<string, unknown>)[raw.replaceAll('~1', '/').replaceAll('~0', '~')];
  }
  return node;
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'object') return 'an object';
  return `${typeof v} ${JSON.stringify(v)}`;
}

/**
 * Turns Ajv errors into one diagnostic per problem: branch errors under an anyOf/oneOf are
 * folded into the anyOf error itself ("must be an integer or a string").
 */
function toDiagnostics(errors: ErrorObject[], manifest: object): SchemaDiagnostic[] {
  const unions = errors.filter((e) => e.keyword === 'anyOf' || e.keyword === 'oneOf');
  const inUnion = (e: ErrorObject) => unions.some((u) => u !== e && e.schemaPath.startsWith(u.schemaPath.replace(/\/(anyOf|oneOf)$/, '/$1/')) && e.instancePath === u.instancePath);
  const seen = new Set<string>();
  const out: SchemaDiagnostic[] = [];
  for (const e of errors) {
    if (inUnion(e)) continue;
    const d = toDiagnostic(e, errors, manifest);
    const key = `${d.path}|${d.message}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(d);
  }
  return out;
}

function toDiagnostic(e: ErrorObject, all: ErrorObject[], manifest: object): SchemaDiagnostic {
  const path = toJsonPath(e.instancePath);
  // Ajv sets e.data only in its verbose mode, which also copies every failing schema.
  const data = e.data !== undefined ? e.data : valueAt(manifest, e.instancePath);
  switch (e.keyword) {
    case 'additionalProperties': {
      const field = (e.params as { additionalProperty: string }).additionalProperty;
      return {
        severity: 'error', rule: 'schema/unknown-field', path: joinPath(path, field),
        message: `unknown field "${field}"`,
        hint: 'check the spelling against the CRD or Kubernetes API; the apiserver would drop this field silently',
      };
    }
    case 'required': {
      const field = (e.params as { missingProperty: string }).missingProperty;
      return { severity: 'error', rule: 'schema/required', path: joinPath(path, field), message: `required field "${field}" is missing` };
    }
    case 'type':
      return { severity: 'error', rule: 'schema/type', path, message: `must be ${article((e.params as { type: string | string[] }).type)}, got ${describe(data)}` };
    case 'enum':
      return {
        severity: 'error', rule: 'schema/enum', path,
        message: `must be one of ${(e.params as { allowedValues: unknown[] }).allowedValues.map((v) => JSON.stringify(v)).join(', ')}, got ${JSON.stringify(data)}`,
      };
    case 'const':
      return { severity: 'error', rule: 'schema/const', path, message: `must be ${JSON.stringify((e.params as { allowedValue: unknown }).allowedValue)}` };
    case 'anyOf':
    case 'oneOf': {
      const branches = all.filter((b) => b.instancePath === e.instancePath && b.keyword === 'type'
        && b.schemaPath.startsWith(e.schemaPath.replace(/\/(anyOf|oneOf)$/, '/$1/')));
      const types = [...new Set(branches.flatMap((b) => (b.params as { type: string | string[] }).type))];
      const expected = types.length ? types.map((t) => article(t)).join(' or ') : 'one of the allowed shapes';
      return { severity: 'error', rule: 'schema/type', path, message: `must be ${expected}, got ${describe(data)}` };
    }
    case 'format':
      return { severity: 'error', rule: 'schema/format', path, message: `must be ${formatName((e.params as { format: string }).format)}, got ${describe(data)}` };
    default:
      return { severity: 'error', rule: `schema/${e.keyword}`, path, message: e.message ?? `fails ${e.keyword}` };
  }
}

function article(t: string | string[]): string {
  const ts = Array.isArray(t) ? t : [t];
  return ts.map((x) => (x === 'integer' || x === 'array' || x === 'object' ? `an ${x}` : x === 'null' ? 'null' : `a ${x}`)).join(' or ');
}

function formatName(f: string): string {
  return ({ int32: 'a 32-bit integer', int64: 'an integer', 'date-time': 'an RFC 3339 date-time', byte: 'base64 data' } as Record<string, string>)[f] ?? `in format ${f}`;
}
