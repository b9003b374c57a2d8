import { Chart, type ChartProps, Duration, Size } from 'cdk8s';
import * as kplus from 'cdk8s-plus-33';
import { Construct } from 'constructs';
import {
  AdvancedCronJob, AdvancedDaemonSet, BroadcastJob, CompletionPolicy, ConcurrencyPolicy, CronJobTemplate,
  DaemonSetUpdateStrategy, FailurePolicy, Release, SidecarSet, SidecarSetUpdateStrategy, SidecarUpgrade,
} from 'kruise-gitops';
import { SHOP_LOGGING_LABEL } from './shop.js';

export class PlatformChart extends Chart {
  constructor(scope: Construct, id: string, props: ChartProps) {
    super(scope, id, props);
    new kplus.Namespace(this, 'namespace', { metadata: { name: props.namespace } });

    // Every shop pod that asks for logging gets a log shipper, upgraded in place 2 pods at a
    // time; a new shipper goes to a quarter of the pods first, then to all.
    const logs = kplus.Volume.fromEmptyDir(this, 'app-logs', 'app-logs');
    new SidecarSet(this, 'logging', {
      metadata: { name: 'shop-logging' },
      selector: { matchLabels: SHOP_LOGGING_LABEL },
      namespace: 'shop',
      containers: [{
        name: 'log-shipper',
        image: 'registry.example.com/platform/log-shipper:0.31.0',
        upgrade: SidecarUpgrade.cold(),
        shareVolumes: true,
        volumeMounts: [{ path: '/var/log/app', volume: logs }],
        resources: {
          cpu: { request: kplus.Cpu.millis(50), limit: kplus.Cpu.millis(200) },
          memory: { request: Size.mebibytes(64), limit: Size.mebibytes(128) },
        },
      }],
      updateStrategy: SidecarSetUpdateStrategy.rollingUpdate({ maxUnavailable: 2 }),
      release: Release.canary('25%', '100%').bakeFor(Duration.minutes(10)),
    });

    // The node agent runs on every node and updates in place, one node at a time: a tenth of the
    // nodes first, then half, then all.
    new AdvancedDaemonSet(this, 'node-agent', {
      metadata: { name: 'node-agent' },
      podMetadata: { labels: { app: 'node-agent' } },
      updateStrategy: DaemonSetUpdateStrategy.inPlaceIfPossible({ maxUnavailable: 1 }),
      release: Release.canary('10%', '50%', '100%'),
      minReady: Duration.seconds(5),
      hostNetwork: true,
      containers: [{
        name: 'agent',
        image: 'registry.example.com/platform/node-agent:5.2.0',
        securityContext: { ensureNonRoot: false, readOnlyRootFilesystem: true },
        resources: {
          cpu: { request: kplus.Cpu.millis(50), limit: kplus.Cpu.millis(200) },
          memory: { request: Size.mebibytes(64), limit: Size.mebibytes(128) },
        },
      }],
    });

    // Before a storefront release, pull its new image on every node, half of the nodes at a time,
    // so in-place updates do not wait for the registry. The job is deleted an hour after it ends.
    new BroadcastJob(this, 'storefront-image-prewarm', {
      metadata: { name: 'storefront-image-prewarm' },
      parallelism: '50%',
      completionPolicy: CompletionPolicy.always({ ttlAfterFinished: Duration.hours(1), activeDeadline: Duration.minutes(20) }),
      failurePolicy: FailurePolicy.continue(),
      containers: [{
        name: 'pull',
        image: 'registry.example.com/shop/storefront:2.14.1',
        command: ['/bin/true'],
        resources: {
          cpu: { request: kplus.Cpu.millis(10), limit: kplus.Cpu.millis(100) },
          memory: { request: Size.mebibytes(16), limit: Size.mebibytes(32) },
        },
      }],
    });

    // Every night at 03:30 Berlin time, prune unused images on every node: a cron job whose
    // runs are BroadcastJobs, 10% of the nodes at a time.
    new AdvancedCronJob(this, 'image-cleanup', {
      metadata: { name: 'image-cleanup' },
      schedule: '30 3 * * *',
      timeZone: 'Europe/Berlin',
      concurrencyPolicy: ConcurrencyPolicy.FORBID,
      successfulJobsRetained: 3,
      failedJobsRetained: 1,
      template: CronJobTemplate.broadcastJob({
        parallelism: '10%',
        completionPolicy: CompletionPolicy.always({ ttlAfterFinished: Duration.hours(1), activeDeadline: Duration.minutes(30) }),
        failurePolicy: FailurePolicy.continue(),
      }),
      containers: [{
        name: 'prune',
        image: 'registry.example.com/platform/image-pruner:1.4.0',
        args: ['--older-than=168h'],
        securityContext: { ensureNonRoot: false },
        resources: {
          cpu: { request: kplus.Cpu.millis(100), limit: kplus.Cpu.millis(500) },
          memory: { request: Size.mebibytes(64), limit: Size.mebibytes(256) },
        },
      }],
    });
  }
}
