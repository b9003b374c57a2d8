// vitest globalSetup for the 'e2e' project: level (b), plus scheduler, kwok nodes and kruise-manager.
import { makeGlobalSetup } from './global-setup.js';

export default makeGlobalSetup('b');
