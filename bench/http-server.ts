/**
 * The `http` benchmark's servers, in their own process: the least an HTTP endpoint taking a
 * play can do, answering `POST /api/plays` with 202 and a JSON body after parsing the JSON it
 * was sent, and nothing else (no auth, no broker, no logs).
 *   node:    node:http alone
 *   express: express with express.json() and one route, what the gateway is built on
 * argv: node | express. Sends its port to the parent once listening.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';

const ANSWER = { id: '6f1d2c3b-8a7e-4f5d-9c0b-1a2b3c4d5e6f' };

function nodeServer(): Server {
  const body = JSON.stringify(ANSWER);
  return createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      JSON.parse(Buffer.concat(chunks).toString('utf8'));
      res.writeHead(202, { 'Content-Type': 'application/json; charset=utf-8' }).end(body);
    });
  });
}

function expressServer(): Server {
  const app = express();
  app.use(express.json());
  app.post('/api/plays', (_req, res) => {
    res.status(202).json(ANSWER);
  });
  return createServer(app);
}

const server = process.argv[2] === 'express' ? expressServer() : nodeServer();
server.listen(0, '127.0.0.1', () => {
  process.send?.({ port: (server.address() as AddressInfo).port });
});
process.on('message', (m) => {
  if (m === 'stop') server.close(() => process.exit(0));
});
