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
import { MemoryRepository } from '@medplum/fhir-router';
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
