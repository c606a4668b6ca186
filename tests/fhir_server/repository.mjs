// MemoryRepository with the two behaviours an EHR has and Medplum's in-memory store lacks
// (shared/reference/test-fhir-server.md, "Gaps the wrapper has to close"):
//
// - Gaps 1 and 2: every create and update is validated (structure + required bindings) before it
//   is stored. updateResource and patchResource both end in createResource(..., update=true);
//   conditionalCreate writes through a private method, so it is checked separately.
//   Conditional update goes through createResource/updateResource, so it is covered too.
// - Gap 3: withTransaction is a no-op in MemoryRepository ("no rollback"), so a transaction
//   Bundle whose 3rd entry fails keeps the first two. Here the outermost withTransaction takes a
//   snapshot of the store and restores it if the callback throws, so a failed transaction
//   persists nothing. The router only uses withTransaction for transactions when the request
//   config has `transactions: true` (see server.mjs).
//
// The snapshot copies the two private Maps of MemoryRepository (`resources` and `history`:
// resourceType -> id -> resource / versions). Stored resources are never mutated in place (the
// repository stores a fresh object per version and hands out deep clones), so copying the maps
// and the history arrays is enough. Requests are serialized in server.mjs, so no other request
// can interleave with a transaction and be rolled back with it.
// - Speed: a search sorted by `_lastUpdated` (what incremental sync sends) is sorted directly on
//   meta.lastUpdated. MemoryRepository evaluates a FHIRPath expression on both sides of every
//   comparison, so each page of a 3,000-resource search took about 130 ms (42 s to page 3,120
//   resources 10 at a time); sorting the ISO strings gives the same order (stable, ties in
//   insertion order) in a few ms.
import { MemoryRepository } from '@medplum/fhir-router';
import { deepClone, matchesSearchRequest } from '@medplum/core';
import { checkResource } from './schema.mjs';

function copyStore(store) {
  const copy = new Map();
  for (const [resourceType, byId] of store) {
    const inner = new Map();
    for (const [id, value] of byId) inner.set(id, Array.isArray(value) ? value.slice() : value);
    copy.set(resourceType, inner);
  }
  return copy;
}

function restoreStore(target, snapshot) {
  target.clear();
  for (const [key, value] of snapshot) target.set(key, value);
}

export class TestRepository extends MemoryRepository {
  #transactionDepth = 0;

  async createResource(resource, options, update = false) {
    checkResource(resource);
    return super.createResource(resource, options, update);
  }

  async conditionalCreate(resource, search, options) {
    checkResource(resource);
    return super.conditionalCreate(resource, search, options);
  }

  searchSync(request) {
    const rules = request.sortRules ?? [];
    const chained = (request.filters ?? []).some((f) => f.code.includes('.') || f.code.startsWith('_has:'));
    if (rules.length !== 1 || rules[0].code !== '_lastUpdated' || chained) {
      return super.searchSync(request);
    }
    const unsorted = { ...request, sortRules: undefined, offset: undefined, count: undefined };
    const matches = [...(this.resources.get(request.resourceType)?.values() ?? [])].filter((r) =>
      matchesSearchRequest(r, unsorted)
    );
    const direction = rules[0].descending ? -1 : 1;
    matches.sort((a, b) => {
      const x = a.meta?.lastUpdated ?? '';
      const y = b.meta?.lastUpdated ?? '';
      return x < y ? -direction : x > y ? direction : 0;
    });
    const start = request.offset ?? 0;
    const page = matches.slice(start, request.count === undefined ? undefined : start + request.count);
    return {
      resourceType: 'Bundle',
      type: 'searchset',
      entry: page.length ? page.map((resource) => ({ search: { mode: 'match' }, resource: deepClone(resource) })) : undefined,
      total: matches.length,
    };
  }

  async withTransaction(callback) {
    if (this.#transactionDepth > 0) {
      return callback(this); // nested (e.g. a conditional update inside a transaction)
    }
    const resources = copyStore(this.resources);
    const history = copyStore(this.history);
    this.#transactionDepth++;
    try {
      return await callback(this);
    } catch (err) {
      restoreStore(this.resources, resources);
      restoreStore(this.history, history);
      throw err;
    } finally {
      this.#transactionDepth--;
    }
  }
}
