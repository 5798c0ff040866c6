export { type Attachment, Broker, type BrokerOptions } from './amqp/broker.js';
export { type Config, ConfigError, config, configSpec, databaseUrlFor, loadConfig } from './config.js';
export { dropSchema, migrate } from './db/migrate.js';
export { enqueueEvent, OutboxRelay } from './db/outbox.js';
export {
  createPool,
  deleteInBatches,
  type Pool,
  type PoolClient,
  type Queryable,
  withAdvisoryLock,
  withTransaction,
} from './db/pool.js';
export { prepared } from './db/prepared.js';
export * from './errors.js';
export {
  EventConsumer,
  type EventConsumerOptions,
  type HandlerContext,
  PermanentError,
} from './events/consumer.js';
export {
  defineEvent,
  EVENTS_EXCHANGE,
  type EventDefinition,
  type EventEnvelope,
  eventQueue,
  makeEnvelope,
} from './events/envelope.js';
export { EventPublisher } from './events/publisher.js';
export { type QueueDeclaration, queueNames } from './events/topology.js';
export { createLogger, type Logger, rootLogger, setRootLogger } from './logger.js';
export { LruCache } from './lru.js';
export { type CallOptions, RpcClient, ServiceClient } from './rpc/client.js';
export {
  type CallContext,
  type Caller,
  type Contract,
  defineContract,
  type Handlers,
  internalMethod,
  type MethodName,
  type ParamsOf,
  publicMethod,
  type ResultOf,
  subscribe,
  userMethod,
  type Visibility,
} from './rpc/contract.js';
export { RpcServer } from './rpc/server.js';
export { rpcQueue } from './rpc/wire.js';
export {
  defineService,
  type RunningService,
  runService,
  type ServiceDefinition,
  type ServiceDeps,
  type Subscribers,
  startService,
} from './service.js';
export { defineSystem, type System } from './system.js';
export { currentTraceId, newTraceId, TRACE_HEADER, withTrace } from './trace.js';
