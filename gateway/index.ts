export { buildApp, type GatewayDeps, type GatewayOptions } from './app.js';
export { HTTP_STATUS, httpStatus, RETRY_AFTER_SECONDS } from './errors.js';
export { gatewayService, type RunningGateway, startGateway } from './server.js';
