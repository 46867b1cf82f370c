// Checks the answers the integration tests received against the OpenAPI document: for every
// answer to a documented operation, the status is documented, the content type is one the
// document gives for it, and a JSON body validates against its schema. Prints TAP: one test per
// (operation, status) seen, and one that fails when no answer was recorded at all.
//
// usage: node conformance.mjs OPENAPI_JSON RECORDS_DIR
// A record is a directory holding `meta` ("METHOD URL"), `h` (the header block as received) and
// `b` (the body), as tests/integration/helpers.bash's http_fetch writes them.
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import Ajv from 'ajv';
import addFormats from 'ajv-formats';

const [docPath, dir] = process.argv.slice(2);
if (!docPath || !dir) {
  console.error('usage: node conformance.mjs OPENAPI_JSON RECORDS_DIR');
  process.exit(2);
}
const doc = JSON.parse(fs.readFileSync(docPath, 'utf8'));

// OpenAPI 3.0 schemas are JSON Schema but for `nullable` and `example`; references are rewritten
// to point into the document registered under the id "doc".
function toJsonSchema(s) {
  if (Array.isArray(s)) return s.map(toJsonSchema);
  if (s === null || typeof s !== 'object') return s;
  const out = {};
  for (const [k, v] of Object.entries(s)) {
    if (k === 'example' || k === 'nullable') continue;
    if (k === '$ref' && typeof v === 'string' && v.startsWith('#/')) out.$ref = 'doc' + v;
    else out[k] = toJsonSchema(v);
  }
  if (s.nullable === true && typeof out.type === 'string') out.type = [out.type, 'null'];
  if (s.nullable === true && Array.isArray(out.enum) && !out.enum.includes(null)) out.enum.push(null);
  return out;
}

const ajv = new Ajv({ strict: false, allErrors: true });
addFormats(ajv);
ajv.addFormat('int64', { type: 'number', validate: Number.isInteger });
ajv.addFormat('int32', { type: 'number', validate: (n) => Number.isInteger(n) && Math.abs(n) < 2 ** 31 });
ajv.addSchema({ $id: 'doc', components: toJsonSchema(doc.components || {}) });

const deref = (o) => {
  while (o && typeof o.$ref === 'string') {
    o = o.$ref.slice(2).split('/').reduce((cur, t) => cur?.[t.replace(/~1/g, '/').replace(/~0/g, '~')], doc);
  }
  return o;
};

// The router prefers a literal segment to a parameter: templates with more literals are tried first.
const templates = Object.keys(doc.paths).map((t) => {
  const segs = t.split('/').slice(1);
  const re = new RegExp('^/' + segs.map((s) => (/^\{.*\}$/.test(s) ? '[^/]+' : s.replace(/[.*+?^$()|[\]\\]/g, '\\$&'))).join('/') + '$');
  return { t, re, literals: segs.filter((s) => !s.startsWith('{')).length };
}).sort((a, b) => b.literals - a.literals);

function templateOf(rawPath) {
  let p = rawPath;
  if (p.length > 1 && p.endsWith('/')) p = p.slice(0, -1); // one trailing slash is ignored
  if (p === '/' && doc.paths['/']) return '/';
  if (/(^|\/)\.\.?(\/|$)|\/\//.test(p)) return null; // dot segments or empty ones: no route's concern
  return templates.find((x) => x.re.test(p))?.t ?? null;
}

function parseHeaders(text) {
  // the last header block: curl -D keeps those of a 100 Continue before the final one
  const blocks = text.split(/\r?\n\r?\n/).filter((b) => /^HTTP\//.test(b));
  const h = {};
  for (const line of (blocks.at(-1) || '').split(/\r?\n/).slice(1)) {
    const i = line.indexOf(':');
    if (i > 0) h[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
  }
  return h;
}

const groups = new Map(); // "METHOD template status" -> { n, problems: [] }
let records = 0, undocumented = 0;
const seenOps = new Set();

function check(method, url, status, headers, body) {
  const u = new URL(url);
  const tmpl = templateOf(u.pathname);
  const opMethod = method === 'HEAD' ? 'get' : method.toLowerCase();
  const op = tmpl && doc.paths[tmpl][opMethod];
  if (!op) { undocumented++; return; }
  seenOps.add(`${opMethod.toUpperCase()} ${tmpl}`);
  const key = `${method} ${tmpl} ${status}`;
  const g = groups.get(key) || { n: 0, problems: [] };
  groups.set(key, g);
  g.n++;
  const problem = (msg) => g.problems.push(`${method} ${u.pathname}${u.search}: ${msg}`);
  const res = deref(op.responses[String(status)] || op.responses[String(status)[0] + 'XX'] || op.responses.default);
  if (!res) return problem(`status ${status} is not documented`);
  const type = (headers['content-type'] || '').split(';')[0].trim().toLowerCase();
  const content = res.content || {};
  const hasBody = method !== 'HEAD' && status !== 204 && status !== 304;
  if (Object.keys(content).length === 0) {
    if (hasBody && body.length > 0) problem(`a body of ${body.length} bytes where the document gives none`);
    return;
  }
  const media = Object.keys(content).find((m) => m.split(';')[0].trim().toLowerCase() === type);
  if (!media) return problem(`content type "${headers['content-type'] || ''}" is not one of ${Object.keys(content).join(', ')}`);
  if (!hasBody || !/json/.test(type) || !content[media].schema) return;
  let value;
  try {
    // gzip as sent, unless the client (curl --compressed) already decoded it
    if (/^gzip$/i.test(headers['content-encoding'] || '') && body[0] === 0x1f && body[1] === 0x8b) body = zlib.gunzipSync(body);
    value = JSON.parse(body.toString('utf8'));
  } catch (e) {
    return problem(`body is not JSON: ${e.message}`);
  }
  const validate = ajv.compile(toJsonSchema(content[media].schema));
  if (!validate(value)) {
    const errs = validate.errors.slice(0, 3).map((e) => `${e.instancePath || '(body)'} ${e.message}`).join('; ');
    problem(`body does not match the schema: ${errs}`);
  }
}

for (const name of fs.existsSync(dir) ? fs.readdirSync(dir).sort() : []) {
  const d = path.join(dir, name);
  let meta, h, b;
  try {
    meta = fs.readFileSync(path.join(d, 'meta'), 'utf8').trim();
    h = parseHeaders(fs.readFileSync(path.join(d, 'h'), 'latin1'));
    b = fs.readFileSync(path.join(d, 'b'));
  } catch {
    continue; // a request that got no answer left no complete record
  }
  const [method, url, status] = meta.split(' ');
  if (!/^\d{3}$/.test(status) || status === '000') continue;
  records++;
  check(method, url, Number(status), h, b);
}

const keys = [...groups.keys()].sort();
console.log(`1..${keys.length + 1}`);
let n = 0;
console.log(`${records > 0 ? 'ok' : 'not ok'} ${++n} - answers recorded: ${records} (${undocumented} to paths or methods the document does not describe)`);
for (const k of keys) {
  const g = groups.get(k);
  if (g.problems.length === 0) {
    console.log(`ok ${++n} - ${k}: ${g.n} answer(s) as the document says`);
  } else {
    console.log(`not ok ${++n} - ${k}: ${g.problems.length} of ${g.n} answer(s) disagree with the document`);
    for (const p of [...new Set(g.problems)].slice(0, 5)) console.log(`# ${p}`);
  }
}
for (const [t, item] of Object.entries(doc.paths))
  for (const m of Object.keys(item))
    if (['get', 'put', 'post', 'delete', 'patch'].includes(m) && !seenOps.has(`${m.toUpperCase()} ${t}`))
      console.log(`# not exercised by the integration tests: ${m.toUpperCase()} ${t}`);
