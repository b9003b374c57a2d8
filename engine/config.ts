/**
 * Engine configuration: one file (kgitops.yaml) and/or flags; flags win. Every value is checked
 * up front, so a typo fails at start-up with the key and what is allowed, not later.
 */
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, isAbsolute, join, posix, resolve } from 'node:path';
import { parse } from 'yaml';
import { parseGoDuration } from '../dsl/cron.js';
import { DEFAULT_DRIFT_MANAGERS } from './apply/index.js';
import { appSource, defaultAppName } from './identity.js';
import type { AppSource } from './state.js';
import { parseSize, type SandboxLimits } from './sandbox/limits.js';
import { DEFAULT_WEBHOOK_HOST } from './source/webhook.js';
import { ApproversError, type ApproversConfig, validateApprovers } from './release/approvers.js';

export interface EngineConfig {
  /** Name of the app; names the ApplySet parent ConfigMap kgitops-<app>. */
  readonly app: string;
  /** True when no one named the app: the name comes from the repo and path (engine/identity.ts). */
  readonly appDerived: boolean;
  /** The app's identity (canonical repo, path), recorded on and checked against its ApplySet parent. */
  readonly source: AppSource;
  /** Git URL or local path of the repo. */
  readonly repo: string;
  /**
   * Branch, tag or commit. Unset: the remote's default branch (its HEAD, looked up on every
   * fetch), as Argo CD does; a repo whose default is master or trunk needs no ref.
   */
  readonly ref?: string;
  /** Directory in the repo that holds cdk8s.yaml. */
  readonly path: string;
  /** Poll interval in ms. */
  readonly intervalMs: number;
  readonly cluster: {
    readonly kubeconfig?: string;
    readonly context?: string;
    /** Run against the in-process simulation (npm start). */
    readonly simulated?: boolean;
  };
  /** Namespace for objects that do not name one. */
  readonly namespace: string;
  /** Namespace of the ApplySet parent ConfigMap. */
  readonly parentNamespace: string;
  readonly prune: { readonly enabled: boolean; readonly maxFraction: number; readonly allowMass: boolean };
  readonly forceConflicts: boolean;
  readonly driftManagers: readonly string[];
  readonly webhook?: { readonly port: number; readonly host: string; readonly secretEnv: string };
  readonly cacheDir: string;
  readonly synthTimeoutMs: number;
  /** Type-check each commit's app before running it (a type error: the commit is invalid). */
  readonly typecheck: boolean;
  /** Where repo code runs (engine/sandbox): bubblewrap unless unsafe, with these limits. */
  readonly sandbox: SandboxConfig;
  /** Keys whose signed commits approve release steps in approvals.yaml; unset: git approvals are off. */
  readonly approvers?: ApproversConfig;
}

export interface SandboxConfig {
  /** --unsafe-no-sandbox: repo code runs as a plain child process (local experiments only). */
  readonly unsafe: boolean;
  /** Limits beyond the defaults (engine/sandbox/limits.ts); the wall time is synthTimeout. */
  readonly limits: Partial<SandboxLimits>;
  /** Host uid/gid of the sandbox when the engine runs as root. @default 65534 */
  readonly uid?: number;
  readonly gid?: number;
}

const SANDBOX_KEYS = ['memory', 'processes', 'cpus', 'maxOutput', 'uid', 'gid'];

/** `sandbox:` of kgitops.yaml and the sandbox flags, checked. */
export function sandboxConfig(file: Record<string, unknown> | undefined, flags: { unsafeNoSandbox?: boolean; maxOutput?: string; maxMemory?: string }): SandboxConfig {
  const f = file ?? {};
  const unknown = Object.keys(f).filter((k) => !SANDBOX_KEYS.includes(k));
  if (unknown.length) throw new ConfigError(`sandbox: unknown key(s) ${unknown.join(', ')}`, `allowed keys: ${SANDBOX_KEYS.join(', ')}`);
  const size = (v: unknown, key: string): number | undefined => {
    if (v === undefined) return undefined;
    const n = typeof v === 'string' || typeof v === 'number' ? parseSize(v) : undefined;
    if (n === undefined) throw new ConfigError(`${key}: ${JSON.stringify(v)} is not a size`, 'write e.g. 64Mi, 512Mi or 2Gi');
    return n;
  };
  const count = (v: unknown, key: string): number | undefined => {
    if (v === undefined) return undefined;
    if (typeof v !== 'number' || !(v > 0)) throw new ConfigError(`${key}: ${JSON.stringify(v)} must be a positive number`);
    return v;
  };
  const limits: Partial<SandboxLimits> = {
    ...(size(flags.maxMemory ?? f.memory, 'sandbox.memory') !== undefined ? { memoryBytes: size(flags.maxMemory ?? f.memory, 'sandbox.memory') } : {}),
    ...(size(flags.maxOutput ?? f.maxOutput, 'sandbox.maxOutput') !== undefined ? { outputBytes: size(flags.maxOutput ?? f.maxOutput, 'sandbox.maxOutput') } : {}),
    ...(count(f.processes, 'sandbox.processes') !== undefined ? { processes: Math.floor(f.processes as number) } : {}),
    ...(count(f.cpus, 'sandbox.cpus') !== undefined ? { cpus: f.cpus as number } : {}),
  };
  return {
    unsafe: flags.unsafeNoSandbox ?? false, limits,
    ...(count(f.uid, 'sandbox.uid') !== undefined ? { uid: f.uid as number } : {}),
    ...(count(f.gid, 'sandbox.gid') !== undefined ? { gid: f.gid as number } : {}),
  };
}

export class ConfigError extends Error {
  constructor(message: string, public readonly hint?: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

const KEYS = ['app', 'repo', 'ref', 'path', 'interval', 'cluster', 'namespace', 'parentNamespace', 'prune', 'forceConflicts', 'driftManagers', 'webhook', 'cacheDir', 'synthTimeout', 'sandbox', 'approvers', 'typecheck'];

export interface ConfigFlags {
  config?: string;
  app?: string;
  repo?: string;
  ref?: string;
  path?: string;
  interval?: string;
  kubeconfig?: string;
  context?: string;
  simulate?: boolean;
  namespace?: string;
  parentNamespace?: string;
  prune?: boolean;
  maxPruneFraction?: string;
  allowMassPrune?: boolean;
  forceConflicts?: boolean;
  webhookPort?: string;
  webhookHost?: string;
  cacheDir?: string;
  synthTimeout?: string;
  /** --no-typecheck gives false; commander's default for it is true, which leaves kgitops.yaml's say. */
  typecheck?: boolean;
  unsafeNoSandbox?: boolean;
  maxOutput?: string;
  maxMemory?: string;
  /** An allowed-signers file (approvers.sshAllowedSigners). */
  approvers?: string;
  /** A file of OpenPGP public keys (approvers.gpgPublicKeys). */
  approversGpg?: string;
}

function duration(v: unknown, key: string): number {
  if (typeof v === 'number') return v * 1000;
  const s = typeof v === 'string' ? parseGoDuration(v) : undefined;
  if (s === undefined || s <= 0) throw new ConfigError(`${key}: ${JSON.stringify(v)} is not a duration`, 'write e.g. 30s, 5m or 1h');
  return Math.round(s * 1000);
}

/** The app's directory in the repo: relative, and never out of it (`../..` would run another repo's code). */
function appPath(p: unknown): string {
  if (typeof p !== 'string' || !p) throw new ConfigError(`path: ${JSON.stringify(p)} is not a directory in the repo`, 'write e.g. `deploy` or `.`');
  const n = posix.normalize(p.replace(/\\/g, '/'));
  if (isAbsolute(n) || n === '..' || n.startsWith('../')) {
    throw new ConfigError(`path "${p}" leaves the repository: it must be a directory inside it`, 'write the app\'s directory relative to the repository root, e.g. `deploy` or `.`');
  }
  return n.replace(/\/$/, '') || '.';
}

export function loadConfig(flags: ConfigFlags, cwd = process.cwd()): EngineConfig {
  let file: Record<string, any> = {};
  let base = cwd;
  const path = flags.config ?? (existsSync(join(cwd, 'kgitops.yaml')) ? join(cwd, 'kgitops.yaml') : undefined);
  if (path) {
    if (!existsSync(path)) throw new ConfigError(`config file ${path} not found`);
    try {
      file = parse(readFileSync(path, 'utf8')) ?? {};
    } catch (e) {
      throw new ConfigError(`${path}: invalid YAML: ${(e as Error).message}`);
    }
    const unknown = Object.keys(file).filter((k) => !KEYS.includes(k));
    if (unknown.length) throw new ConfigError(`${path}: unknown key(s) ${unknown.join(', ')}`, `allowed keys: ${KEYS.join(', ')}`);
    base = dirname(resolve(path));
  }
  const repo = flags.repo ?? file.repo;
  if (!repo) throw new ConfigError('no repo given', 'pass --repo <git URL or path> or set repo: in kgitops.yaml');
  const localRepo = !/^[a-z+]+:\/\//.test(repo) && !/^[^/]+@[^:]+:/.test(repo);
  const repoAbs = localRepo && !isAbsolute(repo) ? resolve(base, repo) : repo;
  const maxFraction = Number(flags.maxPruneFraction ?? file.prune?.maxFraction ?? 0.5);
  if (!(maxFraction > 0 && maxFraction <= 1)) throw new ConfigError(`prune.maxFraction must be in (0, 1], got ${maxFraction}`);
  const namespace = flags.namespace ?? file.namespace ?? 'default';
  const webhookPort = flags.webhookPort ?? file.webhook?.port;
  const webhookHost: unknown = flags.webhookHost ?? file.webhook?.host ?? DEFAULT_WEBHOOK_HOST;
  if (typeof webhookHost !== 'string' || !/^\S+$/.test(webhookHost)) {
    throw new ConfigError(`webhook.host must be an address to listen on, got ${JSON.stringify(webhookHost)}`, `e.g. ${DEFAULT_WEBHOOK_HOST} (the default: this host only) or 0.0.0.0 (every interface, e.g. in a pod behind an ingress)`);
  }
  if (webhookPort === undefined && (flags.webhookHost !== undefined || file.webhook?.host !== undefined)) {
    throw new ConfigError('webhook.host is set but no webhook port: nothing would listen on it', 'add --webhook-port <port> (or webhook.port in kgitops.yaml), or drop the host');
  }
  const kubeconfig = flags.kubeconfig ?? file.cluster?.kubeconfig;
  const ref: unknown = flags.ref ?? file.ref;
  if (ref !== undefined && (typeof ref !== 'string' || !ref)) {
    throw new ConfigError(`ref: ${JSON.stringify(ref)} is not a branch, tag or commit`, 'write e.g. ref: main, or leave ref out to follow the remote\'s default branch');
  }
  if (file.typecheck !== undefined && typeof file.typecheck !== 'boolean') {
    throw new ConfigError(`typecheck: ${JSON.stringify(file.typecheck)} must be true or false`, 'typecheck: false skips the type check of each commit (default true)');
  }
  return {
    // Never the repo basename alone: two repos called `deploy` would share one ApplySet.
    app: flags.app ?? file.app ?? defaultAppName(repoAbs, flags.path ?? file.path ?? '.'),
    appDerived: (flags.app ?? file.app) === undefined,
    source: appSource(repoAbs, flags.path ?? file.path ?? '.'),
    repo: repoAbs,
    ...(ref !== undefined ? { ref } : {}),
    path: appPath(flags.path ?? file.path ?? '.'),
    intervalMs: duration(flags.interval ?? file.interval ?? '30s', 'interval'),
    cluster: {
      kubeconfig: kubeconfig && !isAbsolute(kubeconfig) ? resolve(base, kubeconfig) : kubeconfig,
      context: flags.context ?? file.cluster?.context,
      simulated: flags.simulate ?? file.cluster?.simulated ?? false,
    },
    namespace,
    parentNamespace: flags.parentNamespace ?? file.parentNamespace ?? namespace,
    prune: {
      enabled: flags.prune ?? file.prune?.enabled ?? true,
      maxFraction,
      allowMass: flags.allowMassPrune ?? file.prune?.allowMass ?? false,
    },
    forceConflicts: flags.forceConflicts ?? file.forceConflicts ?? false,
    driftManagers: file.driftManagers ?? DEFAULT_DRIFT_MANAGERS,
    webhook: webhookPort !== undefined ? { port: Number(webhookPort), host: webhookHost, secretEnv: file.webhook?.secretEnv ?? 'KGITOPS_WEBHOOK_SECRET' } : undefined,
    cacheDir: flags.cacheDir ?? file.cacheDir ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'kruise-gitops', 'engine'),
    synthTimeoutMs: duration(flags.synthTimeout ?? file.synthTimeout ?? '120s', 'synthTimeout'),
    typecheck: flags.typecheck === false ? false : file.typecheck ?? true,
    sandbox: sandboxConfig(file.sandbox, flags),
    approvers: approversConfig(file.approvers, flags, base, cwd),
  };
}

const APPROVER_KEYS = ['sshAllowedSigners', 'gpgPublicKeys'];

/**
 * `approvers:` of kgitops.yaml (a path: an allowed-signers file; or { sshAllowedSigners,
 * gpgPublicKeys }) and --approvers / --approvers-gpg, checked. Paths in the file are relative to
 * it, flags to the working directory. Undefined: git approvals are off.
 */
export function approversConfig(value: unknown, flags: { approvers?: string; approversGpg?: string }, base: string, cwd: string): ApproversConfig | undefined {
  let fromFile: { sshAllowedSigners?: unknown; gpgPublicKeys?: unknown } = {};
  if (typeof value === 'string') fromFile = { sshAllowedSigners: value };
  else if (value !== undefined && value !== null) {
    if (typeof value !== 'object' || Array.isArray(value)) {
      throw new ConfigError(`approvers: expected a path or { sshAllowedSigners, gpgPublicKeys }, got ${JSON.stringify(value)}`);
    }
    const unknown = Object.keys(value).filter((k) => !APPROVER_KEYS.includes(k));
    if (unknown.length) throw new ConfigError(`approvers: unknown key(s) ${unknown.join(', ')}`, `allowed keys: ${APPROVER_KEYS.join(', ')}`);
    fromFile = value as typeof fromFile;
  }
  for (const [k, v] of Object.entries(fromFile)) {
    if (v !== undefined && (typeof v !== 'string' || !v)) throw new ConfigError(`approvers.${k}: expected a file path, got ${JSON.stringify(v)}`);
  }
  const at = (p: unknown, dir: string) => (typeof p === 'string' ? (isAbsolute(p) ? p : resolve(dir, p)) : undefined);
  const ssh = flags.approvers !== undefined ? at(flags.approvers, cwd) : at(fromFile.sshAllowedSigners, base);
  const gpg = flags.approversGpg !== undefined ? at(flags.approversGpg, cwd) : at(fromFile.gpgPublicKeys, base);
  if (!ssh && !gpg) return undefined;
  const config: ApproversConfig = { ...(ssh ? { sshAllowedSigners: ssh } : {}), ...(gpg ? { gpgPublicKeys: gpg } : {}) };
  try {
    validateApprovers(config);
  } catch (e) {
    if (e instanceof ApproversError) throw new ConfigError(e.message, e.hint);
    throw e;
  }
  return config;
}
