// vitest globalSetup for the 'integration' project: level (a), kube-apiserver + controller-manager.
import { makeGlobalSetup } from './global-setup.js';

export default makeGlobalSetup('a');
