/**
 * A shop on OpenKruise: the storefront, the cart across three zones and zookeeper in the `shop`
 * namespace; the logging sidecar, the node agent and the nightly image clean-up in `platform`.
 */
import { App } from 'kruise-gitops';
import { PlatformChart } from './lib/platform.js';
import { ShopChart } from './lib/shop.js';

const app = new App();
new ShopChart(app, 'shop', { namespace: 'shop' });
new PlatformChart(app, 'platform', { namespace: 'platform' });
app.synth();
