/**
 * Engine configuration: one file (kgitops.yaml) and/or flags; flags win. Every value is checked
 * up front, so a typo fails at start-up with the key and what is allowed, not later.
 */
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { basename, dirname, isAbsolute, join, resolve } from 'node:path';
import { parse } from 'yaml';
import { parseGoDuration } from '../dsl/cron.js';
import { DEFAULT_DRIFT_MANAGERS } from './apply/index.js';

export interface EngineConfig {
  /** Name of the app; names the ApplySet parent ConfigMap kgitops-<app>. */
  readonly app: string;
  /** Git URL or local path of the repo. */
  readonly repo: string;
  /** Branch, tag or commit. */
  readonly ref: string;
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
}

export class ConfigError extends Error {
  constructor(message: string, public readonly hint?: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

const KEYS = ['app', 'repo', 'ref', 'path', 'interval', 'cluster', 'namespace', 'parentNamespace', 'prune', 'forceConflicts', 'driftManagers', 'webhook', 'cacheDir', 'synthTimeout'];

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
  cacheDir?: string;
  synthTimeout?: string;
}

function duration(v: unknown, key: string): number {
  if (typeof v === 'number') return v * 1000;
  const s = typeof v === 'string' ? parseGoDuration(v) : undefined;
  if (s === undefined || s <= 0) throw new ConfigError(`${key}: ${JSON.stringify(v)} is not a duration`, 'write e.g. 30s, 5m or 1h');
  return Math.round(s * 1000);
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
  const kubeconfig = flags.kubeconfig ?? file.cluster?.kubeconfig;
  return {
    app: flags.app ?? file.app ?? basename(repoAbs.replace(/\.git$/, '').replace(/\/$/, '')).toLowerCase().replace(/[^a-z0-9-]+/g, '-'),
    repo: repoAbs,
    ref: flags.ref ?? file.ref ?? 'main',
    path: flags.path ?? file.path ?? '.',
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
    webhook: webhookPort !== undefined ? { port: Number(webhookPort), host: file.webhook?.host ?? '0.0.0.0', secretEnv: file.webhook?.secretEnv ?? 'KGITOPS_WEBHOOK_SECRET' } : undefined,
    cacheDir: flags.cacheDir ?? file.cacheDir ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'kruise-gitops', 'engine'),
    synthTimeoutMs: duration(flags.synthTimeout ?? file.synthTimeout ?? '120s', 'synthTimeout'),
  };
}
