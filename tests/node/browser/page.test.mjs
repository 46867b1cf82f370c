// The page of public/ in headless Chromium against the real porrio (run-browser.sh sets
// PORRIO_URL, PORRIO_TOKEN, CHROMIUM and SCREENSHOT_DIR): a pool run by two people from two
// browsers, one at desktop width and one at phone width, each seeing the other's changes
// without a reload; the token asked for on the API's 401; errors in words beside their fields;
// polls that cost a 304; nothing asked of another origin, nothing logged as an error. The
// tests run in order and share the pool they create. Every wait is bounded (WAIT).
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { chromium } from 'playwright-core';

const URL_ = process.env.PORRIO_URL;
const TOKEN = process.env.PORRIO_TOKEN;
const SHOTS = process.env.SCREENSHOT_DIR;
const WAIT = 10000; // ms: longer than a few polls (2 s apart on a visible tab)
const ID = 'Betis-Sevilla-Liga-2017';

let browser;
const people = {}; // name: {context, page, requests: [{url, method, headers, status}], errors: []}

async function person(name, options) {
  const context = await browser.newContext(options);
  context.setDefaultTimeout(WAIT);
  const page = await context.newPage();
  const p = { context, page, requests: [], errors: [] };
  page.on('request', (r) => p.requests.push({ url: r.url(), method: r.method(), headers: r.headers(), type: r.resourceType() }));
  page.on('response', (r) => { const q = p.requests.findLast((x) => x.url === r.url() && x.status === undefined); if (q) q.status = r.status(); });
  page.on('console', (m) => { if (m.type() === 'error') p.errors.push(m.text()); });
  page.on('pageerror', (e) => p.errors.push(String(e)));
  await page.goto(`${URL_}/index.html`);
  people[name] = p;
  return p;
}

const apiCalls = (p, method, path) => p.requests.filter((r) => r.method === method && new URL(r.url).pathname === path);
const text = (page, sel) => page.locator(sel).innerText();
// Waits until the text a person sees in sel (innerText: cells apart) matches re.
const until = (page, sel, re) => page.waitForFunction(([s, src]) => new RegExp(src).test(document.querySelector(s)?.innerText ?? ''),
  [sel, re.source], { timeout: WAIT });
const shot = (page, name) => page.screenshot({ path: `${SHOTS}/${name}.png`, fullPage: true });

before(async function () {
  mkdirSync(SHOTS, { recursive: true });
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM,
    timeout: 30000,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-background-networking',
      '--disable-extensions', '--no-first-run'],
  });
  await person('ana', { viewport: { width: 1280, height: 900 }, locale: 'es-ES' });
  await person('luis', { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, deviceScaleFactor: 1, locale: 'es-ES' });
});

after(async function () {
  if (browser) await browser.close();
});

describe('the page in a browser', function () {
  it('lists no pools at first, in Spanish, with a link to the API page', async function () {
    const { page } = people.ana;
    assert.equal(await page.locator('html').getAttribute('lang'), 'es');
    await page.getByText('Aún no hay porras: crea la primera.').waitFor();
    assert.equal(await page.getByRole('link', { name: 'La API HTTP', exact: true }).getAttribute('href'), 'api.html');
  });

  it('creates a pool from the keyboard alone and opens it', async function () {
    const { page } = people.ana;
    for (let i = 0; i < 10 && !(await page.evaluate(() => document.activeElement.id === 'c-local')); i++)
      await page.keyboard.press('Tab');
    assert.equal(await page.evaluate(() => document.activeElement.id), 'c-local', 'Tab reaches the first field of the form');
    await page.keyboard.type('Betis');
    await page.keyboard.press('Tab');
    await page.keyboard.type('Sevilla');
    await page.keyboard.press('Tab');
    await page.keyboard.type('Liga');
    await page.keyboard.press('Tab');
    await page.keyboard.press('ControlOrMeta+a');
    await page.keyboard.type('2017');
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { level: 2, name: 'Betis – Sevilla' }).waitFor();
    assert.equal(new URL(page.url()).hash, `#/porras/${ID}`);
    assert.equal(await page.evaluate(() => document.activeElement.id), 't-porra', 'focus moves to the pool');
    assert.match(await text(page, '#porra-estado'), /Liga 2017 · Abierta a apuestas/);
  });

  it('a bad score or name is refused in words beside its field, and nothing is sent', async function () {
    const { page } = people.ana;
    const before = people.ana.requests.length;
    await page.getByLabel('Tu nombre').fill('Ana López');
    await page.getByLabel('Goles de Betis').first().fill('100');
    await page.getByLabel('Goles de Sevilla').first().fill('dos');
    await page.getByRole('button', { name: 'Apostar' }).click();
    assert.match(await text(page, '#a-quien-error'), /Solo letras, cifras, «_», «\.» y «-», sin espacios/);
    assert.equal(await text(page, '#a-local-error'), 'Los goles son un número entero de 0 a 99.');
    assert.equal(await text(page, '#a-visitante-error'), 'Los goles son un número entero de 0 a 99.');
    assert.equal(await page.getByLabel('Goles de Betis').first().getAttribute('aria-invalid'), 'true');
    assert.equal(await page.evaluate(() => document.activeElement.id), 'a-quien', 'the first wrong field has the focus');
    assert.equal(people.ana.requests.slice(before).filter((r) => r.method === 'PUT').length, 0);
  });

  it('two people bet from two browsers and each sees the other\'s bet without a reload', async function () {
    const ana = people.ana.page, luis = people.luis.page;
    await ana.getByLabel('Tu nombre').fill('Ana');
    await ana.getByLabel('Goles de Betis').first().fill('2');
    await ana.getByLabel('Goles de Sevilla').first().fill('1');
    await ana.getByRole('button', { name: 'Apostar' }).click();
    await ana.locator('#apuestas tr', { hasText: 'Ana' }).waitFor();
    assert.equal(await ana.locator('#a-quien-error').isHidden(), true);

    // Luis's list was loaded empty: the new pool appears in it by polling
    const link = luis.getByRole('link', { name: /Betis – Sevilla.*1 apuesta/s });
    await link.waitFor();
    await link.click();
    await luis.locator('#apuestas tr', { hasText: 'Ana' }).waitFor();
    await luis.getByLabel('Tu nombre').fill('Luis');
    await luis.getByLabel('Goles de Betis').first().fill('1');
    await luis.getByLabel('Goles de Sevilla').first().fill('1');
    await luis.getByRole('button', { name: 'Apostar' }).click();

    await ana.locator('#apuestas tr', { hasText: 'Luis' }).waitFor();
    assert.match(await text(ana, '#apuestas'), /Luis\s+1 – 1/);
    await ana.locator('#aviso', { hasText: 'Nueva apuesta de Luis: 1-1.' }).waitFor();
    for (const name of ['ana', 'luis'])
      assert.equal(people[name].requests.filter((r) => r.type === 'document').length, 1, `${name}'s page was never reloaded`);
  });

  it('changing a bet replaces it, and the other browser sees the change', async function () {
    const ana = people.ana.page, luis = people.luis.page;
    await luis.getByLabel('Goles de Sevilla').first().fill('3');
    await luis.getByRole('button', { name: 'Cambiar apuesta' }).click();
    await until(ana, '#apuestas', /Luis\s+1 – 3/);
    assert.match(await text(ana, '#apuestas tbody'), /^Ana\s+2 – 1\s+Luis\s+1 – 3$/);
  });

  it('an unchanged pool costs a 304: polls send the entity tag they were given', async function () {
    const p = people.ana;
    const path = `/porras/${ID}`;
    const deadline = Date.now() + WAIT;
    while (Date.now() < deadline && !apiCalls(p, 'GET', path).some((r) => r.status === 304))
      await p.page.waitForTimeout(250);
    const polls = apiCalls(p, 'GET', path);
    const unchanged = polls.filter((r) => r.status === 304);
    assert.ok(unchanged.length > 0, `no 304 among ${polls.length} polls of ${path}`);
    assert.ok(unchanged.every((r) => /^"[^"]+"$/.test(r.headers['if-none-match'] || '')), 'each 304 answered an If-None-Match');
    assert.ok(apiCalls(p, 'GET', '/porras').some((r) => r.status === 304), 'the listing is polled the same way');
  });

  it('setting the result asks for the token on the 401, refuses a wrong one in words, takes the right one', async function () {
    const { page } = people.ana;
    const form = page.locator('#resultado');
    await form.getByLabel('Goles de Betis').fill('2');
    await form.getByLabel('Goles de Sevilla').fill('1');
    await form.getByRole('button', { name: 'Fijar resultado' }).click();
    const tokenField = form.getByLabel('Token de administración');
    await tokenField.waitFor();
    assert.match(await text(page, '#r-token-error'), /^Esta operación necesita el token de administración\.\n\(el servicio dice: «this operation needs a token/);
    assert.equal(await page.evaluate(() => document.activeElement.id), 'r-token');

    await tokenField.fill('not-the-token');
    await form.getByRole('button', { name: 'Fijar resultado' }).click();
    await page.locator('#r-token-error', { hasText: 'Ese token no es válido en este servicio.' }).waitFor();
    assert.match(await text(page, '#r-token-error'), /el servicio dice: «the token is not allowed/);

    await tokenField.fill(TOKEN);
    await form.getByRole('button', { name: 'Fijar resultado' }).click();
    await page.locator('#porra-estado', { hasText: 'Resultado: 2-1' }).waitFor();
    assert.equal(await tokenField.isHidden(), true, 'the token field goes away once accepted');
    assert.equal(await page.evaluate(() => sessionStorage.getItem('porrio.token')), TOKEN);
    assert.equal(await page.evaluate((t) => JSON.stringify(localStorage).includes(t), TOKEN), false, 'the token is kept in sessionStorage only');
    const puts = apiCalls(people.ana, 'PUT', `/porras/${ID}/resultado`);
    assert.deepEqual(puts.map((r) => r.status), [401, 403, 200]);
  });

  it('everyone sees the winner, and betting closes', async function () {
    const ana = people.ana.page, luis = people.luis.page;
    await ana.locator('#ganadores', { hasText: 'Ganan con el 2-1: Ana.' }).waitFor();
    await luis.locator('#ganadores', { hasText: 'Ganan con el 2-1: Ana.' }).waitFor();
    await luis.locator('#aviso', { hasText: 'Resultado: 2-1.' }).waitFor();
    assert.equal(await luis.locator('#apostar').isHidden(), true);
    assert.equal(await luis.locator('#cerrada').isVisible(), true);
    assert.match(await text(luis, '#apuestas tr.gana'), /Ana.*acierta/s);
    await shot(ana, 'desktop');
    await shot(luis, 'phone');
  });

  it('a correction uses the token already given, and the winners follow', async function () {
    const { page } = people.ana;
    const form = page.locator('#resultado');
    await form.getByLabel('Goles de Betis').fill('1');
    await form.getByLabel('Goles de Sevilla').fill('3');
    await form.getByRole('button', { name: 'Corregir resultado' }).click();
    await page.locator('#ganadores', { hasText: 'Ganan con el 1-3: Luis.' }).waitFor();
    assert.equal(await form.getByLabel('Token de administración').isHidden(), true);
    await people.luis.page.locator('#ganadores', { hasText: 'Ganan con el 1-3: Luis.' }).waitFor();
  });

  it('a hidden tab polls less often, and catches up as soon as it is shown again', async function () {
    const p = people.luis;
    const listings = () => apiCalls(p, 'GET', '/porras').length;
    const setHidden = (hidden) => p.page.evaluate((h) => {
      Object.defineProperty(document, 'hidden', { configurable: true, get: () => h });
      document.dispatchEvent(new Event('visibilitychange'));
    }, hidden);
    await setHidden(true);
    const before = listings();
    await p.page.waitForTimeout(5000); // two or three polls on a visible tab
    assert.ok(listings() - before <= 1, `${listings() - before} listings polled in 5 s while hidden`);
    const hiddenCount = listings();
    await Promise.all([ // shown: a poll at once, not at the end of the hidden tab's delay
      p.page.waitForRequest((r) => new URL(r.url()).pathname === '/porras', { timeout: 3000 }),
      setHidden(false)]);
    assert.ok(listings() > hiddenCount);
  });

  it('a pool is deleted in two steps with the token, and leaves both browsers', async function () {
    const ana = people.ana.page, luis = people.luis.page;
    await ana.getByRole('button', { name: 'Borrar porra' }).click();
    await ana.getByText('¿Borrar esta porra y todas sus apuestas?').waitFor();
    assert.equal(apiCalls(people.ana, 'DELETE', `/porras/${ID}`).length, 0, 'the first click only asks');
    await ana.getByRole('button', { name: 'Sí, borrar' }).click();
    await ana.getByText('Aún no hay porras: crea la primera.').waitFor();
    assert.equal(new URL(ana.url()).hash, '');
    await luis.getByText('Esta porra no existe (quizá la han borrado).').waitFor();
  });

  it('asks nothing of another origin and logs no console error', async function () {
    const origin = new URL(URL_).origin;
    // the browser logs the API's refusals the tests provoke as failed loads: Ana's 401 and 403
    // from the token, Luis's 404 polling the pool deleted under him; nothing else may be there
    const provoked = { ana: /status of 40[13] /, luis: /status of 404 / };
    for (const [name, p] of Object.entries(people)) {
      const foreign = p.requests.filter((r) => new URL(r.url).origin !== origin).map((r) => r.url);
      assert.deepEqual(foreign, [], `${name} asked another origin`);
      const errors = p.errors.filter((e) => !(e.startsWith('Failed to load resource:') && provoked[name].test(e)));
      assert.deepEqual(errors, [], `${name}'s console`);
      assert.ok(p.requests.length > 10, `${name} made requests`);
    }
  });
});
