/**
 * Fault injection for engine tests: the next matching request(s) fail with a given error before
 * they touch the store, so a test can see the engine survive a 403, a 409, a 429 or a 5xx on
 * exactly the call it cares about.
 */
import type { RequestInfo } from '../errors.js';

export type SimVerb = 'resource' | 'get' | 'list' | 'apply' | 'applyStatus' | 'update' | 'delete' | 'watch' | 'event' | 'whoAmI';

export interface SimRequest {
  readonly verb: SimVerb;
  readonly apiVersion?: string;
  readonly kind?: string;
  readonly namespace?: string;
  readonly name?: string;
  /** The field manager of a write. */
  readonly fieldManager?: string;
  readonly dryRun?: boolean;
}

export interface FaultRule {
  /** Unset matches every verb. */
  readonly verb?: SimVerb | readonly SimVerb[];
  readonly kind?: string;
  readonly apiVersion?: string;
  readonly namespace?: string;
  readonly name?: string;
  /** Only writes by this field manager. */
  readonly fieldManager?: string;
  /** The error to throw, or a function that builds one for the request. */
  readonly error: Error | ((req: SimRequest, info: RequestInfo) => Error);
  /** How many matching requests fail. @default 1 (Infinity: until cleared) */
  readonly times?: number;
}

export interface FaultHandle {
  /** Matching requests still to fail. */
  readonly remaining: number;
  cancel(): void;
}

interface Armed {
  rule: FaultRule;
  left: number;
}

export class Faults {
  private armed: Armed[] = [];

  add(rule: FaultRule): FaultHandle {
    const a: Armed = { rule, left: rule.times ?? 1 };
    this.armed.push(a);
    const list = this;
    return {
      get remaining() {
        return a.left;
      },
      cancel() {
        list.armed = list.armed.filter((x) => x !== a);
      },
    };
  }

  clear(): void {
    this.armed = [];
  }

  /** The error for this request, if an armed rule matches (consuming one of its times). */
  take(req: SimRequest, info: RequestInfo): Error | undefined {
    for (const a of this.armed) {
      if (a.left <= 0 || !matches(a.rule, req)) continue;
      a.left--;
      if (a.left <= 0) this.armed = this.armed.filter((x) => x !== a);
      return typeof a.rule.error === 'function' ? a.rule.error(req, info) : a.rule.error;
    }
    return undefined;
  }
}

function matches(r: FaultRule, q: SimRequest): boolean {
  if (r.verb !== undefined && !(typeof r.verb === 'string' ? r.verb === q.verb : r.verb.includes(q.verb))) return false;
  if (r.kind !== undefined && r.kind !== q.kind) return false;
  if (r.apiVersion !== undefined && r.apiVersion !== q.apiVersion) return false;
  if (r.namespace !== undefined && r.namespace !== q.namespace) return false;
  if (r.name !== undefined && r.name !== q.name) return false;
  if (r.fieldManager !== undefined && r.fieldManager !== q.fieldManager) return false;
  return true;
}
