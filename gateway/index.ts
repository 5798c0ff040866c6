export { buildApp, type GatewayDeps, type GatewayOptions } from './app.js';
export { HTTP_STATUS, httpStatus, RETRY_AFTER_SECONDS } from './errors.js';
export { DENIED_METHODS, OWN_USER_ONLY } from './jsonrpc.js';
export { type RunningGateway, startGateway } from './server.js';
