/**
 * A shop on OpenKruise: the storefront, the cart across three zones and zookeeper in the `shop`
 * namespace; the logging sidecar, the node agent and the nightly image clean-up in `platform`.
 */
import { App } from 'kruise-gitops';
import { PlatformChart } from './lib/platform.js';
import { ShopChart } from './lib/shop.js';

// The pods are meant to run as cdk8s-plus sets them up (non-root, read-only root filesystem, no
// service-account token, ...); containers that need otherwise say so in lib/.
const app = new App({ acceptCdk8sPlusDefaults: true });
new ShopChart(app, 'shop', { namespace: 'shop' });
new PlatformChart(app, 'platform', { namespace: 'platform' });
app.synth();
