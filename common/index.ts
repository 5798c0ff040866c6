export { type Attachment, Broker, type BrokerOptions, nodeOf, urlUser } from './amqp/broker.js';
export { mismatchOf, type WorkQueue } from './amqp/queues.js';
export {
  brokerAdmin,
  brokerUrlFor,
  brokerUserName,
  deleteBrokerUsers,
  loadBrokerSecret,
  type ProcessKind,
  putBrokerUsers,
  systemKinds,
  systemUsers,
  waitForManagement,
} from './broker-users.js';
export {
  type Config,
  ConfigError,
  config,
  configSpec,
  databaseUrlFor,
  loadConfig,
  parseAmqpUrls,
  TRANSCODE_FORMATS,
  type TranscodeFormat,
} from './config.js';
export { translateDatabaseError } from './db/errors.js';
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
export { type LogPosition, LogReader, type LogRecord, logBounds } from './events/log.js';
export { partitionNumbers, partitionOf, partitionStream } from './events/partitions.js';
export { EventPublisher } from './events/publisher.js';
export {
  declareExchange,
  groupQueues,
  type QueueDeclaration,
  queueNames,
  retryDelays,
  retryQueue,
} from './events/topology.js';
export { createLogger, type Logger, rootLogger, setRootLogger } from './logger.js';
export { LruCache } from './lru.js';
export { repoPath, sourcePath } from './paths.js';
export { PeriodicTask } from './periodic.js';
export { logPartitionEnds, type PartitionStanding, projectionStandings } from './projections/lag.js';
export { defineProjection, type Projection } from './projections/projection.js';
export { type ReplayProgress, replayProjection } from './projections/replay.js';
export { groupLockKeys, groupState } from './projections/runner.js';
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
  type ParsedParamsOf,
  publicMethod,
  type ResultOf,
  subscribe,
  type UserCallContext,
  userMethod,
  type Visibility,
} from './rpc/contract.js';
export { RpcServer, requestQueue } from './rpc/server.js';
export { rpcQueue } from './rpc/wire.js';
export { Sealer } from './sealing.js';
export { newSecret, readSecretFile, replaceSecretFile, SecretError } from './secret-file.js';
export {
  dedupWindowMs,
  defineService,
  logRetention,
  type RunningService,
  runService,
  type ServiceDefinition,
  type ServiceDeps,
  type Subscribers,
  startService,
  type Worker,
} from './service.js';
export { SharedAnswers } from './shared-answer.js';
export { defineSystem, type MethodEntry, type System } from './system.js';
export { withTimeout } from './timeout.js';
export { loadTokenSecrets, type TokenSecrets } from './token-secrets.js';
export { currentTraceId, newTraceId, TRACE_HEADER, withTrace } from './trace.js';
