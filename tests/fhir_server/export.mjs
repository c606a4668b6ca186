// A small FHIR Bulk Data `$export` over the test server's own repository, so the Python client
// is tested over real HTTP (hl7.org/fhir/uv/bulkdata/export.html). Test infrastructure only.
//
// - Kick-off: GET (or POST) [base]/$export, [base]/Patient/$export, [base]/Group/<id>/$export
//   with `Prefer: respond-async` → 202 and Content-Location: [base]/$export-status/<job>.
//   Parameters: _outputFormat (ndjson forms only), _type (comma list), _since (instant: resources
//   whose meta.lastUpdated is after it). Others → 400, as `Prefer: handling=strict` would.
// - The job snapshots the matching resources at kick-off; transactionTime is that instant.
// - Status: the first `polls` GETs answer 202 with `Retry-After: <retryAfter>` and X-Progress,
//   then 200 with the manifest (requiresAccessToken true; one or more files per type, at most
//   `fileLines` lines each). DELETE cancels or cleans up (202); later GETs → 404.
// - Files: GET [base]/$export-file/<job>/<n> with a bearer token when the request carries one
//   (the SMART proxy in the tests checks it); it 307-redirects to a second listener on another
//   port (another origin, like Oracle's storage), whose URL is signed with a query token and
//   which refuses any request that carries an Authorization header, as S3 does for pre-signed URLs.
// - Compartments are simplified: a resource belongs to Patient/x when it is that Patient, or its
//   `subject` or `patient` reference is Patient/x.
// - `POST /$export-config` (not FHIR) sets {polls, retryAfter, fileLines}; `/$reset` restores
//   the defaults and drops every job.
import http from 'node:http';
import { randomUUID } from 'node:crypto';

const DEFAULTS = { polls: 1, retryAfter: 0, fileLines: 1000 };
const NDJSON_FORMATS = new Set(['application/fhir+ndjson', 'application/ndjson', 'ndjson']);
const KNOWN_PARAMS = new Set(['_outputFormat', '_type', '_since']);

function outcome(code, text) {
  return { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code, details: { text } }] };
}

function patientOf(resource) {
  if (resource.resourceType === 'Patient') return resource.id;
  for (const field of ['subject', 'patient']) {
    const ref = resource[field]?.reference;
    if (typeof ref === 'string' && ref.startsWith('Patient/')) return ref.slice('Patient/'.length);
  }
  return undefined;
}

export class ExportJobs {
  constructor(repo) {
    this.repo = repo;
    this.jobs = new Map();
    this.config = { ...DEFAULTS };
    this.files = new Map(); // signature -> ndjson text, served by the storage listener
    this.storage = http.createServer((req, res) => this.#serveStorage(req, res));
  }

  listen() {
    return new Promise((resolve) => this.storage.listen(0, '127.0.0.1', resolve));
  }

  reset() {
    this.jobs.clear();
    this.files.clear();
    this.config = { ...DEFAULTS };
  }

  configure(body) {
    for (const key of Object.keys(DEFAULTS)) {
      if (body?.[key] !== undefined) this.config[key] = Number(body[key]);
    }
    return { status: 200, body: { ...this.config } };
  }

  // Returns a reply, or undefined when the request is not an export request.
  handle(method, url, segments, origin, headers) {
    if (segments.at(-1) === '$export' && (method === 'GET' || method === 'POST')) {
      return this.#kickOff(url, segments, origin, headers);
    }
    if (segments[0] === '$export-status' && segments.length === 2) {
      return this.#status(method, segments[1], origin);
    }
    if (segments[0] === '$export-file' && segments.length === 3 && method === 'GET') {
      return this.#file(segments[1], Number.parseInt(segments[2], 10));
    }
    return undefined;
  }

  #kickOff(url, segments, origin, headers) {
    if (!(headers.prefer ?? '').includes('respond-async')) {
      return { status: 400, body: outcome('invalid', 'Prefer: respond-async is required') };
    }
    const params = url.searchParams;
    const unknown = [...params.keys()].filter((k) => !KNOWN_PARAMS.has(k));
    if (unknown.length) return { status: 400, body: outcome('not-supported', `Unsupported: ${unknown.join(', ')}`) };
    const format = params.get('_outputFormat');
    if (format && !NDJSON_FORMATS.has(format)) {
      return { status: 400, body: outcome('not-supported', `Unsupported _outputFormat: ${format}`) };
    }
    const since = params.get('_since');
    if (since && Number.isNaN(Date.parse(since))) {
      return { status: 400, body: outcome('invalid', `_since is not an instant: ${since}`) };
    }
    let patients; // undefined: system level
    if (segments.length === 2 && segments[0] === 'Patient') {
      patients = new Set(this.repo.resources.get('Patient')?.keys() ?? []);
    } else if (segments.length === 3 && segments[0] === 'Group') {
      const group = this.repo.resources.get('Group')?.get(segments[1]);
      if (!group) return { status: 404, body: outcome('not-found', `Group/${segments[1]} not found`) };
      patients = new Set(
        (group.member ?? [])
          .map((m) => m.entity?.reference)
          .filter((r) => typeof r === 'string' && r.startsWith('Patient/'))
          .map((r) => r.slice('Patient/'.length))
      );
    } else if (segments.length !== 1) {
      return { status: 404, body: outcome('not-supported', 'Unknown $export level') };
    }
    const types = params.get('_type')?.split(',').filter(Boolean);
    const transactionTime = new Date().toISOString();
    const sinceMs = since ? Date.parse(since) : undefined;
    const output = [];
    const id = randomUUID();
    for (const [type, byId] of this.repo.resources) {
      if (types && !types.includes(type)) continue;
      const lines = [];
      for (const resource of byId.values()) {
        if (sinceMs !== undefined && !(Date.parse(resource.meta?.lastUpdated ?? '') > sinceMs)) continue;
        if (patients && !patients.has(patientOf(resource))) continue;
        lines.push(JSON.stringify(resource));
      }
      for (let start = 0; start < lines.length; start += this.config.fileLines) {
        const chunk = lines.slice(start, start + this.config.fileLines);
        output.push({ type, count: chunk.length, text: chunk.join('\n') + '\n' });
      }
    }
    this.jobs.set(id, {
      request: url.toString(),
      transactionTime,
      pollsLeft: this.config.polls,
      output,
      deleted: false,
    });
    return { status: 202, headers: { 'Content-Location': `${origin}/$export-status/${id}` }, body: undefined };
  }

  #status(method, id, origin) {
    const job = this.jobs.get(id);
    if (!job) return { status: 404, body: outcome('not-found', 'No such export job') };
    if (method === 'DELETE') {
      this.jobs.delete(id);
      return { status: 202, body: undefined };
    }
    if (method !== 'GET') return { status: 405, body: outcome('not-supported', 'GET or DELETE') };
    if (job.pollsLeft > 0) {
      job.pollsLeft -= 1;
      return {
        status: 202,
        headers: { 'Retry-After': `${this.config.retryAfter}`, 'X-Progress': `in progress (${job.pollsLeft} polls left)` },
        body: undefined,
      };
    }
    return {
      status: 200,
      headers: { Expires: new Date(Date.now() + 3600_000).toUTCString() },
      body: {
        transactionTime: job.transactionTime,
        request: job.request,
        requiresAccessToken: true,
        output: job.output.map((file, n) => ({ type: file.type, url: `${origin}/$export-file/${id}/${n}`, count: file.count })),
        error: [],
      },
    };
  }

  #file(id, n) {
    const file = this.jobs.get(id)?.output[n];
    if (!file) return { status: 404, body: outcome('not-found', 'No such export file') };
    const signature = randomUUID();
    this.files.set(signature, file.text);
    const location = `http://127.0.0.1:${this.storage.address().port}/${id}/${n}.ndjson?sig=${signature}`;
    return { status: 307, headers: { Location: location }, body: undefined };
  }

  #serveStorage(req, res) {
    const url = new URL(req.url, 'http://127.0.0.1');
    const text = this.files.get(url.searchParams.get('sig') ?? '');
    if (req.headers.authorization) {
      res.writeHead(400, { 'Content-Type': 'text/plain' });
      res.end('Only one auth mechanism allowed; a signed URL and an Authorization header were both sent');
      return;
    }
    if (text === undefined) {
      res.writeHead(403, { 'Content-Type': 'text/plain' });
      res.end('Signature does not match');
      return;
    }
    res.writeHead(200, { 'Content-Type': 'application/fhir+ndjson', 'Content-Length': Buffer.byteLength(text) });
    res.end(text);
  }
}
