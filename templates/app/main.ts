/**
 * Your workloads on OpenKruise. `npx kgitops synth` renders them into dist/; `kgitops sync`
 * applies each commit and moves the release step by step.
 */
import { Chart, type ChartProps, Duration, Size } from 'cdk8s';
import * as kplus from 'cdk8s-plus-33';
import { Construct } from 'constructs';
import { App, CloneSet, CloneSetUpdateStrategy, Gate, kruisePolicy, Release, Step } from 'kruise-gitops';

export class WebChart extends Chart {
  constructor(scope: Construct, id: string, props: ChartProps) {
    super(scope, id, props);
    new kplus.Namespace(this, 'namespace', { metadata: { name: props.namespace } });

    // Updates in place where only the image changes. A release goes to 20% of the pods, waits
    // until they are ready and have run for five minutes, then to all of them.
    new CloneSet(this, 'web', {
      metadata: { name: 'web' },
      replicas: 5,
      podMetadata: { labels: { app: 'web' } },
      release: Release.steps(
        Step.to('20%').gate(Gate.podsReady({ minReady: Duration.seconds(30) }), Gate.bake(Duration.minutes(5))),
        Step.to('100%').gate(Gate.podsReady()),
      ),
      updateStrategy: CloneSetUpdateStrategy.inPlaceIfPossible({ maxUnavailable: 1 }),
      containers: [{
        name: 'web',
        image: 'nginxinc/nginx-unprivileged:1.27.3',
        portNumber: 8080,
        resources: {
          cpu: { request: kplus.Cpu.millis(100), limit: kplus.Cpu.millis(500) },
          memory: { request: Size.mebibytes(64), limit: Size.mebibytes(128) },
        },
        readiness: kplus.Probe.fromHttpGet('/', { port: 8080 }),
      }],
    });

    // At most one web pod down at a time, also during in-place updates and evictions.
    new kruisePolicy.PodUnavailableBudget(this, 'web-budget', {
      metadata: { name: 'web' },
      spec: {
        targetRef: { apiVersion: 'apps.kruise.io/v1alpha1', kind: 'CloneSet', name: 'web' },
        maxUnavailable: kruisePolicy.PodUnavailableBudgetSpecMaxUnavailable.fromNumber(1),
      },
    });
  }
}

const app = new App();
new WebChart(app, 'web', { namespace: 'web' });
app.synth();
