// The page: the list of pools, one pool opened by the address (#/porras/ID), its forms, and a
// poll that keeps both current without reloads.
import { api, token, segmentProblem, goalsProblem } from './api.js';

const $ = (sel, root = document) => root.querySelector(sel);
const POLL_MS = 2000; // visible tab
const HIDDEN_MS = [10000, 60000]; // hidden tab: from the first, doubling up to the second
const PAGE = 50; // pools shown at first, and more per "Mostrar más"

const state = { list: null, listTag: null, shown: PAGE, id: null, pool: null, poolTag: null, winners: null, winTag: null, gone: false, offline: false };

function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) if (v != null && v !== false) el.setAttribute(k, v);
  el.append(...children);
  return el;
}

const say = (text) => { const a = $('#aviso'); a.textContent = ''; setTimeout(() => { a.textContent = text; }, 50); };
const score = (s) => `${s.local}-${s.visitante}`;
const bets = (n) => (n === 1 ? '1 apuesta' : `${n} apuestas`);
const poolPath = (id) => `#/porras/${encodeURIComponent(id)}`;

// ---- forms: values, errors beside their fields, the token when the API asks for it

function values(form) {
  const v = {};
  for (const el of form.elements) if (el.name) v[el.name] = el.value.trim();
  return v;
}

function clearErrors(form) {
  for (const p of form.querySelectorAll('.error')) { p.hidden = true; p.textContent = ''; }
  for (const el of form.querySelectorAll('[aria-invalid]')) el.removeAttribute('aria-invalid');
}

// problems: [[field or null, sentence, the API's words or null], ...]; the first field is focused.
function showErrors(form, problems) {
  let first = null;
  for (const [field, text, detail] of problems) {
    const input = field && form.elements[field];
    const p = input ? input.parentElement.querySelector('.error') : $('[data-general]', form);
    if (input) {
      input.closest('.campo').hidden = false;
      input.setAttribute('aria-invalid', 'true');
      first = first || input;
    }
    p.textContent = text;
    if (detail) p.append(' ', h('span', { class: 'detalle', lang: 'en' }, `(el servicio dice: «${detail}»)`));
    p.hidden = false;
  }
  if (first) first.focus();
}

const apiProblem = (e) => [[e.field, e.message, e.detail]];

function check(pairs) { // [[field, problem or null], ...] → the problems
  return pairs.filter(([, problem]) => problem).map(([field, problem]) => [field, problem, null]);
}

// Runs action(values) for a submitted form: errors beside their fields, the button busy meanwhile.
function onSubmit(form, validate, action) {
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    clearErrors(form);
    const v = values(form);
    const problems = validate(v);
    if (problems.length) return showErrors(form, problems);
    if (v.token) token.set(v.token);
    const button = $('button[type=submit]', form);
    button.disabled = true;
    try {
      await action(v);
    } catch (e) {
      if (e.status === 403) token.clear();
      showErrors(form, apiProblem(e));
    } finally {
      button.disabled = false;
    }
  });
}

const goals = (v) => [['local', goalsProblem(v.local)], ['visitante', goalsProblem(v.visitante)]];
const toScore = (v) => ({ local: Number(v.local), visitante: Number(v.visitante) });

function hideToken(form) {
  const campo = $('.token', form);
  campo.hidden = true;
  $('input', campo).value = '';
}

// ---- the list

function renderList() {
  const list = $('#lista');
  const status = $('#lista-estado');
  const focused = list.contains(document.activeElement) ? document.activeElement.getAttribute('href') : null;
  const pools = state.list.slice().reverse(); // the API lists in creation order: newest first here
  status.textContent = pools.length ? `${pools.length === 1 ? '1 porra' : `${pools.length} porras`}, la más reciente primero.`
    : 'Aún no hay porras: crea la primera.';
  list.replaceChildren(...pools.slice(0, state.shown).map((p) => h('li', {},
    h('a', { href: poolPath(p.ID), 'aria-current': p.ID === state.id ? 'page' : null },
      h('strong', {}, `${p.local} – ${p.visitante}`),
      h('span', { class: 'meta' }, `${p.competition} ${p.year} · ${bets(Object.keys(p.apuestas).length)} · `
        + (p.resultado ? `resultado ${p.resultado}` : 'sin resultado'))))));
  $('#mas').hidden = pools.length <= state.shown;
  if (focused) $(`a[href="${CSS.escape(focused)}"]`, list)?.focus();
}

// ---- one pool

function announceChanges(old, now) {
  if (!old || old.ID !== now.ID) return;
  const news = [];
  for (const [quien, b] of Object.entries(now.apuestas)) {
    const was = old.apuestas[quien];
    if (!was) news.push(`Nueva apuesta de ${quien}: ${score(b)}.`);
    else if (score(was) !== score(b)) news.push(`${quien} cambia su apuesta a ${score(b)}.`);
  }
  if (now.resultado !== old.resultado && now.resultado) news.push(`Resultado: ${now.resultado}.`);
  if (news.length) say(news.join(' '));
}

function renderPool() {
  const p = state.pool;
  const section = $('#porra');
  if (state.gone || !p) {
    $('#t-porra').textContent = state.gone ? 'Porra no encontrada' : 'Cargando…';
    $('#porra-estado').textContent = state.gone ? 'Esta porra no existe (quizá la han borrado).' : '';
    for (const el of section.querySelectorAll('h3, table, form, #sin-apuestas, #cerrada, #ganadores, .admin')) el.hidden = true;
    return;
  }
  for (const el of section.querySelectorAll('h3, table, form, .admin')) el.hidden = false;
  $('#t-porra').textContent = `${p.local} – ${p.visitante}`;
  $('#porra-estado').textContent = `${p.competition} ${p.year} · `
    + (p.resultado ? `Resultado: ${p.resultado}` : 'Abierta a apuestas');
  const winners = new Set(p.resultado && state.winners ? state.winners.ganadores : []);
  const rows = Object.entries(p.apuestas).sort(([a], [b]) => a.localeCompare(b, 'es'));
  $('#apuestas tbody').replaceChildren(...rows.map(([quien, b]) => h('tr', { class: winners.has(quien) ? 'gana' : null },
    h('td', {}, quien), h('td', {}, `${b.local} – ${b.visitante}`, winners.has(quien) ? h('span', { class: 'marca' }, ' ✓ acierta') : ''))));
  $('#apuestas').hidden = rows.length === 0;
  $('#sin-apuestas').hidden = rows.length > 0;
  $('#apostar').hidden = !!p.resultado;
  $('#cerrada').hidden = !p.resultado;
  for (const form of ['a', 'r']) { // the bet's and the result's goals, named by team
    $(`label[for=${form}-local]`).textContent = `Goles de ${p.local}`;
    $(`label[for=${form}-visitante]`).textContent = `Goles de ${p.visitante}`;
  }
  betButton();
  $('#resultado button[type=submit]').textContent = p.resultado ? 'Corregir resultado' : 'Fijar resultado';
  const g = $('#ganadores');
  g.hidden = false;
  if (!p.resultado || !state.winners) g.textContent = 'Se sabrán cuando haya resultado.';
  else if (state.winners.ganadores.length) g.textContent = `Ganan con el ${state.winners.resultado}: ${state.winners.ganadores.join(', ')}.`;
  else g.textContent = `Nadie ha acertado el ${state.winners.resultado}.`;
}

function betButton() {
  const quien = $('#a-quien').value.trim();
  $('#apostar button[type=submit]').textContent = state.pool && state.pool.apuestas[quien] ? 'Cambiar apuesta' : 'Apostar';
}

async function refreshPool() {
  const id = state.id;
  let r;
  try {
    r = await api.pool(id, state.poolTag);
  } catch (e) {
    if (e.status !== 404) throw e;
    if (id === state.id && !state.gone) { state.gone = true; state.pool = null; renderPool(); say('Esta porra ya no existe.'); }
    return;
  }
  if (id !== state.id) return;
  if (r.status !== 304) {
    announceChanges(state.pool, r.data);
    Object.assign(state, { pool: r.data, poolTag: r.etag, gone: false });
  }
  let changed = r.status !== 304;
  if (state.pool.resultado) {
    const w = await api.winners(id, state.winTag);
    if (id !== state.id) return;
    if (w.status !== 304) Object.assign(state, { winners: w.data, winTag: w.etag });
    changed ||= w.status !== 304;
  }
  if (changed) renderPool();
}

function open(id, focus) {
  document.body.classList.toggle('con-porra', !!id);
  $('#porra').hidden = !id;
  if (id === state.id) return;
  Object.assign(state, { id, pool: null, poolTag: null, winners: null, winTag: null, gone: false });
  for (const f of ['#apostar', '#resultado', '#borrar']) clearErrors($(f));
  cancelDelete();
  if (state.list) renderList();
  if (!id) return focus && $('#t-porras').focus();
  renderPool();
  if (focus) $('#t-porra').focus();
  refresh();
}

function route(focus) {
  const m = /^#\/porras\/(.+)$/.exec(location.hash);
  let id = null;
  try { id = m ? decodeURIComponent(m[1]) : null; } catch { /* a broken address: the list */ }
  open(id, focus);
}

// ---- polling: If-None-Match makes an unchanged state a 304; a hidden tab asks less often

let timer = null, running = false, again = false, hiddenDelay = HIDDEN_MS[0];

async function refresh() {
  clearTimeout(timer);
  if (running) { again = true; return; }
  running = true;
  let delay = document.hidden ? hiddenDelay : POLL_MS;
  try {
    const r = await api.list(state.listTag);
    if (r.status !== 304) Object.assign(state, { list: r.data, listTag: r.etag });
    if (r.status !== 304 || state.offline) renderList(); // the latter: the connection's message goes
    state.offline = false;
    if (state.id) await refreshPool();
    if (document.hidden) hiddenDelay = Math.min(hiddenDelay * 2, HIDDEN_MS[1]);
  } catch (e) {
    $('#lista-estado').textContent = e.message;
    state.offline = true;
    delay = Math.max(delay, 5000);
  }
  running = false;
  if (again) { again = false; delay = 0; }
  timer = setTimeout(refresh, delay);
}

document.addEventListener('visibilitychange', () => {
  if (document.hidden) return;
  hiddenDelay = HIDDEN_MS[0];
  refresh();
});

// ---- the forms

onSubmit($('#crear'), (v) => check(['local', 'visitante', 'competition', 'year'].map((f) => [f, segmentProblem(v[f])])),
  async (v) => {
    const r = await api.create(v);
    $('#crear').reset();
    $('#c-year').value = new Date().getFullYear();
    say(`Porra ${r.data.local} – ${r.data.visitante} lista.`);
    location.hash = poolPath(r.data.ID);
  });

onSubmit($('#apostar'), (v) => check([['quien', segmentProblem(v.quien, true)], ...goals(v)]), async (v) => {
  const s = toScore(v);
  const id = state.id;
  await api.bet(id, v.quien, s);
  localStorage.setItem('porrio.nombre', v.quien);
  if (state.id === id && state.pool) state.pool.apuestas[v.quien] = s; // so the next poll announces nothing new
  say(`Apuesta de ${v.quien} guardada: ${score(s)}.`);
  renderPool();
  refresh();
});

onSubmit($('#resultado'), (v) => check(goals(v)), async (v) => {
  const r = await api.result(state.id, toScore(v));
  hideToken($('#resultado'));
  $('#resultado').reset();
  Object.assign(state, { pool: r.data, poolTag: r.etag });
  say(`Resultado guardado: ${r.data.resultado}.`);
  renderPool();
  refresh();
});

function cancelDelete() {
  const f = $('#borrar');
  $('.confirmar', f).hidden = true;
  $('.cancelar', f).hidden = true;
  $('button[type=submit]', f).textContent = 'Borrar porra';
  hideToken(f);
}

onSubmit($('#borrar'), () => [], async () => {
  const f = $('#borrar');
  if ($('.confirmar', f).hidden) {
    $('.confirmar', f).hidden = false;
    $('.cancelar', f).hidden = false;
    $('button[type=submit]', f).textContent = 'Sí, borrar';
    return;
  }
  await api.remove(state.id);
  say('Porra borrada.');
  location.hash = '#';
});

$('#borrar .cancelar').addEventListener('click', () => { cancelDelete(); $('#borrar button[type=submit]').focus(); });
$('#a-quien').addEventListener('input', betButton);
$('#mas').addEventListener('click', () => { state.shown += PAGE; renderList(); });

// every field tells a screen reader where its error is
for (const input of document.querySelectorAll('.campo input')) {
  const p = input.parentElement.querySelector('.error');
  p.id = `${input.id}-error`;
  input.setAttribute('aria-describedby', p.id);
}
$('#c-year').value = new Date().getFullYear();
$('#a-quien').value = localStorage.getItem('porrio.nombre') || '';
window.addEventListener('hashchange', () => route(true));
route(false);
refresh();
