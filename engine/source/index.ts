/**
 * Source: where the engine's commits come from.
 *
 * - GitSource keeps a bare mirror of one repository, resolves a branch, tag or SHA to a commit
 *   (`fetch`), gives each commit a worktree of its own (`checkout`), and tells a fast-forward
 *   from a history rewrite (`isAncestor`). Credentials never appear in URLs, arguments or errors.
 * - startWebhookServer receives GitHub, GitLab and generic push notifications, verified with the
 *   shared secret, so the engine can fetch at once instead of waiting for the next poll.
 * - Every failure is a SourceError whose `kind` tells the engine what to do next.
 */
export {
  GitSource,
  DEFAULT_TIMEOUT_MS,
  DEFAULT_TOKEN_ENV,
  DEFAULT_USERNAME,
  DEFAULT_USERNAME_ENV,
  validateRef,
  type CallOptions,
  type GitAuth,
  type GitSourceOptions,
  type Revision,
  type SshAuth,
  type TokenAuth,
  type Worktree,
  type BlameLine,
  type CommitFile,
  type CommitSignature,
  type SignatureStatus,
  type SignatureTrust,
} from './git.js';
export { SourceError, classifyGitFailure, type GitFailure, type SourceErrorKind } from './errors.js';
export { parseGitUrl, redact, type GitUrl, type Transport } from './url.js';
export {
  startWebhookServer,
  verifySignature,
  pushMatchesRef,
  pushDecision,
  DEFAULT_WEBHOOK_HOST,
  MAX_BODY_BYTES,
  MAX_CONNECTIONS,
  type PushDecision,
  type PushEvent,
  type WebhookProvider,
  type WebhookServer,
  type WebhookServerOptions,
} from './webhook.js';
