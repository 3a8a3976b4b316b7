export { type Capabilities, type Capability, CAPABILITY_ORDER, NO_CAPABILITIES } from './capabilities.js';
export { capabilitiesFromUserAgent } from './from-user-agent.js';
export { capabilitiesFromAccept } from './from-accept.js';
