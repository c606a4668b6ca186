// A real FHIR R4 server for the integration tests: Medplum's FhirRouter + an in-memory
// repository behind a small Node HTTP server. Test infrastructure only; never deployed.
//
//   npm ci --prefix tests/fhir_server
//   node --experimental-websocket tests/fhir_server/server.mjs [PORT]
//
// PORT comes from argv, else $FHIR_SERVER_PORT, else 0 (= any free port).
//
// Binds 127.0.0.1 only. Prints exactly one line, `LISTENING <port>`, on stdout when ready.
// Base URL: http://127.0.0.1:<port> (so `POST /` takes a transaction Bundle, `GET /Patient?..`
// searches). `POST /$reset` (not FHIR) empties the store, for test isolation.
//
// Why this wrapper exists, and what it adds (facts from shared/reference/test-fhir-server.md,
// measured on this machine; "gap N" is that doc's numbering):
// - No installable EHR-like FHIR server is reachable here (no HAPI, no Debian package, only alpha
//   Python servers); Medplum's router 5.2.13 works and covers CRUD, vread, history, conditional
//   create/update, If-Match (412), search with _include/_sort, and batch/transaction Bundles.
// - Node is v20 here and Medplum 5.x needs a global WebSocket at import time: the flag
//   --experimental-websocket provides it (checked below with a clear message).
// - Gap 1 (no validation) and gap 2 (required-binding codes not checked): repository.mjs calls
//   schema.mjs's checkResource() on every create/update; errors are 400 OperationOutcomes naming
//   the element (e.g. `Flag.status`).
// - Gap 3 (transactions): `transactions: true` in the request config makes the router run
//   transaction Bundles through repo.withTransaction, which repository.mjs turns into
//   snapshot/restore, so a failed transaction persists nothing. Requests are serialized (one at
//   a time) so a rollback cannot undo another client's write.
// - Gap 4 (no paging): searches get `_count` 20 by default (at most 1000) and the Bundle gets
//   `self` and, while more matches remain, an absolute `next` link (same origin as the request,
//   from the Host header) that uses `_offset`. Entries get absolute `fullUrl`s.
// - Gap 5 (no useful /metadata): GET /metadata serves a CapabilityStatement (fhirVersion 4.0.1).
// - Gap 6 (13 s searches): schema.mjs re-indexes shared search parameters per resource type.
// - Unknown names answer like an EHR (HAPI) instead of matching nothing: an unknown resource type
//   is 404, an unknown search parameter is 400 (the doc's `authored` vs `authoredon` trap).
// - HTTP details the router leaves to its host: Content-Type application/fhir+json, ETag
//   W/"<versionId>", Last-Modified, Location on create/update, Prefer: return=minimal.
//
// - Bulk Data: a small `$export` (system, Patient, Group level) over the same repository, with
//   status polling, NDJSON files behind a 307 to another origin, and DELETE (export.mjs).
// - `POST /$seed` (not FHIR) stores a resource keeping the meta.lastUpdated and meta.versionId it
//   is sent with (Medplum's seeding mode), so tests can commit a resource "late": with a
//   lastUpdated behind a client's cursor, as a slow transaction or a skewed clock would.
//
// Known differences from an EHR that tests must not rely on (doc): version ids are UUIDs, history
// lists the oldest version first, reading a deleted resource gives 404 (not 410), no
// authentication, PUT to a new id answers 200 (not 201), and system-level search (`GET /?_type=`)
// finds nothing.
import http from 'node:http';

if (typeof globalThis.WebSocket === 'undefined') {
  console.error('@medplum/core needs a global WebSocket: on Node 20 run `node --experimental-websocket server.mjs`');
  process.exit(2);
}
const { FhirRouter } = await import('@medplum/fhir-router');
const { allOk, getSearchParameters, getStatus } = await import('@medplum/core');
const { loadDefinitions, resourceTypes } = await import('./schema.mjs');
const { TestRepository } = await import('./repository.mjs');
const { ExportJobs } = await import('./export.mjs');

const DEFAULT_COUNT = 20;
const MAX_COUNT = 1000;
const FHIR_JSON = 'application/fhir+json; charset=utf-8';

loadDefinitions();
const repo = new TestRepository();
const exports = new ExportJobs(repo);
await exports.listen();
const router = new FhirRouter();
const routerConfig = { transactions: true };
const startedAt = new Date().toISOString();

// Gap 5: a CapabilityStatement built from the loaded R4 definitions.
function capabilityStatement(origin) {
  const interactions = ['read', 'vread', 'update', 'patch', 'delete', 'history-instance', 'create', 'search-type'];
  return {
    resourceType: 'CapabilityStatement',
    status: 'active',
    date: startedAt,
    kind: 'instance',
    software: { name: 'Test FHIR server (Medplum fhir-router 5.2.13, in memory)' },
    implementation: { description: 'In-memory FHIR R4 server for integration tests', url: origin },
    fhirVersion: '4.0.1',
    format: ['application/fhir+json', 'json'],
    rest: [
      {
        mode: 'server',
        interaction: [{ code: 'transaction' }, { code: 'batch' }, { code: 'search-system' }],
        resource: resourceTypes.map((type) => ({
          type,
          interaction: interactions.map((code) => ({ code })),
          versioning: 'versioned',
          readHistory: true,
          updateCreate: true,
          conditionalCreate: true,
          conditionalUpdate: true,
          conditionalDelete: 'single',
          searchParam: Object.values(getSearchParameters(type) ?? {}).map((p) => ({
            name: p.code,
            definition: p.url,
            type: p.type,
          })),
        })),
      },
    ],
  };
}

// Search result parameters and other `_` names that are not filters on a resource type.
const CONTROL_PARAMS = new Set([
  '_count', '_offset', '_sort', '_include', '_revinclude', '_summary', '_elements', '_total', '_format',
  '_pretty', '_contained', '_containedType', '_cursor', '_filter', '_text', '_content', '_list', '_type',
]);

function errorOutcome(code, text) {
  return { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code, details: { text } }] };
}

function unknownSearchParameters(resourceType, params) {
  const known = getSearchParameters(resourceType) ?? {};
  return [...new Set(params.keys())].filter((key) => {
    const name = key.split(':')[0];
    return !(name in known) && !CONTROL_PARAMS.has(name) && !name.startsWith('_has') && !key.includes('.');
  });
}

// Gap 4, before routing: which requests are searches, and their effective _count.
function searchParamsOf(method, segments, query, body) {
  if (method === 'GET' && segments.length <= 1 && !segments[0]?.startsWith('$')) {
    return new URLSearchParams(query);
  }
  if (method === 'POST' && segments.length === 2 && segments[1] === '_search') {
    return new URLSearchParams(body ?? {}); // form-encoded body, parsed by parseBody
  }
  return undefined;
}

function withDefaultCount(params) {
  const result = new URLSearchParams(params);
  if (result.get('_summary') === 'count') return result;
  const count = Number.parseInt(result.get('_count') ?? `${DEFAULT_COUNT}`, 10);
  result.set('_count', `${Number.isNaN(count) || count < 0 ? DEFAULT_COUNT : Math.min(count, MAX_COUNT)}`);
  return result;
}

// Gap 4, after routing: absolute fullUrls, a self link, and a next link while matches remain.
function addPaging(bundle, origin, path, params) {
  bundle.entry = bundle.entry?.map(({ resource, ...rest }) => ({
    fullUrl: resource?.id ? `${origin}/${resource.resourceType}/${resource.id}` : undefined,
    resource,
    ...rest,
  }));
  const count = Number.parseInt(params.get('_count') ?? '0', 10);
  const offset = Number.parseInt(params.get('_offset') ?? '0', 10) || 0;
  bundle.link = [{ relation: 'self', url: `${origin}${path}?${params}` }];
  if (count > 0 && bundle.total !== undefined && offset + count < bundle.total) {
    const next = new URLSearchParams(params);
    next.set('_offset', `${offset + count}`);
    bundle.link.push({ relation: 'next', url: `${origin}${path}?${next}` });
  }
}

function versionHeaders(resource) {
  const headers = {};
  if (resource?.meta?.versionId) headers.ETag = `W/"${resource.meta.versionId}"`;
  if (resource?.meta?.lastUpdated) headers['Last-Modified'] = new Date(resource.meta.lastUpdated).toUTCString();
  return headers;
}

// Transaction/batch responses: versioned locations and ETags per entry, as EHRs give them.
function decorateBatchResponse(bundle) {
  for (const entry of bundle.entry ?? []) {
    const { resource, response } = entry;
    if (!response || !resource?.meta?.versionId) continue;
    response.etag = `W/"${resource.meta.versionId}"`;
    response.lastModified = resource.meta.lastUpdated;
    if (response.location) {
      response.location = `${resource.resourceType}/${resource.id}/_history/${resource.meta.versionId}`;
    }
  }
}

function parseBody(req, raw) {
  if (raw.length === 0) return undefined;
  const type = req.headers['content-type'] ?? '';
  if (type.startsWith('application/x-www-form-urlencoded')) {
    return Object.fromEntries(new URLSearchParams(raw.toString('utf8')));
  }
  return JSON.parse(raw.toString('utf8'));
}

// Test-only: store a resource as given, meta.lastUpdated included (validated like any write).
async function seed(resource) {
  if (!resource?.resourceType || !resource?.id || !resource?.meta?.lastUpdated) {
    return { status: 400, body: errorOutcome('invalid', '$seed needs resourceType, id and meta.lastUpdated') };
  }
  const exists = repo.resources.get(resource.resourceType)?.has(resource.id) ?? false;
  const stored = await repo.withSeeding(() => repo.createResource(resource, undefined, exists));
  return { status: 200, headers: versionHeaders(stored), body: stored };
}

async function handle(req, raw) {
  const origin = `http://${req.headers.host ?? `127.0.0.1:${server.address().port}`}`;
  const url = new URL(req.url, origin);
  const segments = url.pathname.split('/').filter(Boolean);
  const method = req.method;

  if (method === 'POST' && url.pathname === '/$reset') {
    repo.clear();
    exports.reset();
    return { status: 200, body: allOk };
  }
  if (method === 'GET' && url.pathname === '/metadata') {
    return { status: 200, body: capabilityStatement(origin) };
  }

  if (segments[0] && !segments[0].startsWith('$') && !resourceTypes.includes(segments[0])) {
    return { status: 404, body: errorOutcome('not-supported', `Unknown resource type: ${segments[0]}`) };
  }

  let body;
  try {
    body = parseBody(req, raw);
  } catch (err) {
    return { status: 400, body: errorOutcome('invalid', `Invalid request body: ${err.message}`) };
  }

  if (method === 'POST' && url.pathname === '/$export-config') return exports.configure(body);
  if (method === 'POST' && url.pathname === '/$seed') return seed(body);
  const exportReply = exports.handle(method, url, segments, origin, req.headers);
  if (exportReply) return exportReply;

  let routedUrl = `${url.pathname}${url.search}`;
  const search = searchParamsOf(method, segments, url.search, body);
  const searchParams = search && withDefaultCount(search);
  const unknown = segments.length > 0 && searchParams ? unknownSearchParameters(segments[0], searchParams) : [];
  if (unknown.length > 0) {
    const text = `Unknown search parameter for ${segments[0]}: ${unknown.join(', ')}`;
    return { status: 400, body: errorOutcome('not-supported', text) };
  }
  if (searchParams && method === 'GET') routedUrl = `${url.pathname}?${searchParams}`;
  if (searchParams && method === 'POST') body = Object.fromEntries(searchParams);

  const [outcome, resource] = await router.handleRequest(
    { method, url: routedUrl, pathname: '', body, params: {}, query: {}, headers: req.headers, config: routerConfig },
    repo
  );
  const status = getStatus(outcome);
  if (status >= 400 || !resource) return { status, body: outcome };

  const headers = {};
  if (resource.resourceType === 'Bundle' && resource.type === 'searchset' && searchParams) {
    const path = method === 'POST' ? `/${segments[0]}` : url.pathname;
    addPaging(resource, origin, path, searchParams);
  } else if (resource.resourceType === 'Bundle' && resource.type?.endsWith('-response')) {
    decorateBatchResponse(resource);
  } else if (resource.id) {
    Object.assign(headers, versionHeaders(resource));
    if (method === 'POST' || method === 'PUT') {
      const vid = resource.meta?.versionId;
      headers.Location = `${origin}/${resource.resourceType}/${resource.id}${vid ? `/_history/${vid}` : ''}`;
    }
  }
  const prefer = req.headers.prefer ?? '';
  if (prefer.includes('return=minimal')) return { status, headers, body: undefined };
  if (prefer.includes('return=OperationOutcome')) return { status, headers, body: outcome };
  return { status, headers, body: resource };
}

// Requests run one at a time (see gap 3 above); the store is in memory, so this is cheap.
let queue = Promise.resolve();

function serialized(task) {
  const result = queue.then(task);
  queue = result.catch(() => undefined);
  return result;
}

const server = http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (chunk) => chunks.push(chunk));
  req.on('end', async () => {
    let reply;
    try {
      reply = await serialized(() => handle(req, Buffer.concat(chunks)));
    } catch (err) {
      console.error(err);
      reply = { status: 500, body: errorOutcome('exception', String(err?.stack ?? err)) };
    }
    const text = reply.body === undefined ? '' : JSON.stringify(reply.body);
    res.writeHead(reply.status, {
      ...reply.headers,
      'Content-Type': FHIR_JSON,
      'Content-Length': Buffer.byteLength(text),
    });
    res.end(text);
  });
});

const port = Number.parseInt(process.argv[2] ?? process.env.FHIR_SERVER_PORT ?? '0', 10);
server.listen(port, '127.0.0.1', () => {
  process.stdout.write(`LISTENING ${server.address().port}\n`);
});
for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => process.exit(0)); // in memory: nothing to flush
}
