// The porrio HTTP API as the page uses it (README: HTTP API, HTTP conventions, Authentication):
// relative URLs, since the page and the API share one origin; entity tags for polling, so an
// unchanged resource costs a 304; the admin token in sessionStorage only; and every refusal
// turned into a Spanish sentence tied to the field that caused it.

const TOKEN_KEY = 'porrio.token';

export const token = {
  get: () => sessionStorage.getItem(TOKEN_KEY),
  set: (t) => sessionStorage.setItem(TOKEN_KEY, t),
  clear: () => sessionStorage.removeItem(TOKEN_KEY),
};

// status: the HTTP status (0: no answer); field: the form field to show it beside, or null;
// message: the sentence for people; detail: the API's own words, when it gave some.
export class ApiError extends Error {
  constructor(status, field, message, detail) {
    super(message);
    Object.assign(this, { status, field, detail });
  }
}

// The segment rule of the README (HTTP API): 1-64 code points of ASCII letters, digits, '_', '.'
// or non-ASCII, not only dots; '-' only in {quien}.
const SEGMENT = /^(?:[A-Za-z0-9_.]|[^\x00-\x7F])+$/u;
const QUIEN = /^(?:[A-Za-z0-9_.-]|[^\x00-\x7F])+$/u;

const rule = (isQuien) => isQuien
  ? 'Solo letras, cifras, «_», «.» y «-», sin espacios (y no solo puntos).'
  : 'Solo letras, cifras, «_» y «.», sin espacios ni «-» (y no solo puntos).';

export function segmentProblem(value, isQuien = false) {
  if (value === '') return 'Falta este dato.';
  if ([...value].length > 64) return 'Como mucho 64 caracteres.';
  if (!(isQuien ? QUIEN : SEGMENT).test(value) || /^\.+$/.test(value)) return rule(isQuien);
  return null;
}

export function goalsProblem(value) {
  if (value === '') return 'Falta el número de goles.';
  return /^\d{1,2}$/.test(value) ? null : 'Los goles son un número entero de 0 a 99.';
}

const FIELDS = ['local', 'visitante', 'competition', 'year', 'quien'];

// The sentence for an API error {"error": msg, "status": status}.
function explain(status, msg) {
  const field = FIELDS.find((f) => msg.startsWith(f + ':')) || null;
  const rest = field ? msg.slice(field.length + 1).trim() : msg;
  switch (status) {
    case 400:
      if (field && rest === 'missing') return [field, 'Falta este dato.'];
      if (field && rest.startsWith('must be an integer')) return [field, 'Los goles son un número entero de 0 a 99.'];
      if (field) return [field, rule(field === 'quien')];
      if (msg.startsWith('ID:')) return [null, 'El identificador de la porra no es válido.'];
      return [null, 'El servicio no ha entendido los datos enviados.'];
    case 401: return ['token', 'Esta operación necesita el token de administración.'];
    case 403: return ['token', 'Ese token no es válido en este servicio.'];
    case 404: return [null, 'Esta porra no existe (quizá la han borrado).'];
    case 409:
      if (msg.startsWith('betting is closed')) return [null, 'Las apuestas están cerradas: la porra ya tiene resultado.'];
      if (msg.startsWith('no result yet')) return [null, 'La porra aún no tiene resultado.'];
      if (msg.startsWith('MAX_POOLS')) return [null, 'El servicio ya tiene todas las porras que admite.'];
      if (msg.startsWith('MAX_BETS_PER_POOL')) return [null, 'Esta porra ya tiene todas las apuestas que admite.'];
      return [null, 'La porra no admite este cambio ahora.'];
    case 412: return [null, 'La porra ha cambiado mientras tanto: vuelve a intentarlo.'];
    case 413: return [null, 'Los datos enviados son demasiado grandes.'];
    case 503: return [null, 'El servicio no puede guardar cambios ahora mismo; no se ha hecho nada. Inténtalo de nuevo.'];
    default: return [null, `El servicio ha respondido con un error (${status}). Inténtalo de nuevo.`];
  }
}

// One request. etag: sent as If-None-Match, and a 304 answers {status: 304}. Resolves to
// {status, etag, data}; rejects with an ApiError.
async function call(method, path, { body, auth = false, etag = null } = {}) {
  const headers = {};
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (auth && token.get()) headers.Authorization = `Bearer ${token.get()}`;
  if (etag) headers['If-None-Match'] = etag;
  let res;
  try {
    res = await fetch(path, { method, headers, cache: 'no-store', body: body === undefined ? undefined : JSON.stringify(body) });
  } catch {
    throw new ApiError(0, null, 'No hay conexión con el servicio; se reintentará.', null);
  }
  if (res.status === 304) return { status: 304, etag };
  const text = await res.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { /* a proxy's page, not the API's */ }
  if (!res.ok) {
    const detail = data && typeof data.error === 'string' ? data.error : null;
    const [field, message] = explain(res.status, detail || '');
    throw new ApiError(res.status, field, message, detail);
  }
  return { status: res.status, etag: res.headers.get('ETag'), data };
}

const enc = encodeURIComponent;
const pool = (id) => `porras/${enc(id)}`;

export const api = {
  list: (etag) => call('GET', 'porras', { etag }),
  pool: (id, etag) => call('GET', pool(id), { etag }),
  winners: (id, etag) => call('GET', `${pool(id)}/ganadores`, { etag }),
  create: (m) => call('PUT', `porra/${[m.local, m.visitante, m.competition, m.year].map(enc).join('/')}`),
  bet: (id, quien, score) => call('PUT', `${pool(id)}/apuestas/${enc(quien)}`, { body: score }),
  result: (id, score) => call('PUT', `${pool(id)}/resultado`, { body: score, auth: true }),
  remove: (id) => call('DELETE', pool(id), { auth: true }),
};
