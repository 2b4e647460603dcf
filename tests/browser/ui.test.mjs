// Browser tests of runcell's web UI: the real runcelld on a free loopback
// port, driven through Debian's headless Chromium by playwright-core.
// Screenshots of each page go to tests/artifacts/; the run page is also
// saved as docs/run-page.png for the README.
//
// Usage: node tests/browser/ui.test.mjs      (ends with "N passed, N failed")
import { spawn, spawnSync } from 'node:child_process';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, '..', '..');
const BIN = path.join(ROOT, 'build', 'runcell');
const SCRIPTS = path.join(ROOT, 'tests', 'blackbox', 'scripts');
const ART = path.join(ROOT, 'tests', 'artifacts');
const PASSWORD = 'correct horse 42';
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic',
  '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => resolve(p)); });
  });
}

function config(dir) {
  return `server:
  data_dir: ${dir}/data
  executor: process
  max_concurrent_runs: 16
  stop_grace: 1s
automations:
  - id: echo
    name: Echo
    description: Prints its arguments and environment.
    command: [/bin/sh, "${SCRIPTS}/echo.sh"]
    parameters:
      - {name: message, type: string, required: true, max_length: 100, description: "What to print"}
      - {name: count, type: integer, min: 1, max: 5, default: 1}
      - {name: loud, type: boolean, default: false}
      - {name: color, type: choice, choices: [red, green], default: red}
      - {name: folder, type: path, roots: ["${dir}/files"]}
      - {name: code, type: string, pattern: "[A-Z]{3}-[0-9]+"}
  - id: sleeper
    name: Sleeper
    description: Ticks every 0.1 s for a number of seconds.
    command: [/bin/sh, "${SCRIPTS}/sleeper.sh"]
    parameters:
      - {name: seconds, type: integer, min: 0, max: 600, default: 1}
  - id: admin-only
    name: Admin only
    command: [/bin/sh, "${SCRIPTS}/exit.sh"]
    allow: [admin]
    schedule: {cron: "0 3 * * *", timezone: Europe/Berlin, catch_up: false}
`;
}

class Server {
  async start() {
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'runcell-ui-'));
    fs.mkdirSync(path.join(this.dir, 'files'));
    fs.symlinkSync('/', path.join(this.dir, 'files', 'out'));
    this.cfg = path.join(this.dir, 'runcell.yaml');
    fs.writeFileSync(this.cfg, config(this.dir));
    this.port = await freePort();
    this.url = `http://127.0.0.1:${this.port}`;
    this.proc = spawn(BIN, ['serve', '--config', this.cfg, '--listen', `127.0.0.1:${this.port}`],
      { stdio: ['ignore', 'pipe', fs.openSync(path.join(this.dir, 'server.log'), 'a')] });
    let out = '';
    await new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('server did not start: ' + out)), 15000);
      this.proc.stdout.on('data', (d) => {
        out += d;
        const m = out.match(/admin token \(shown only now, keep it\): (\S+)/);
        if (m) this.token = m[1];
        if (out.includes('serving')) { clearTimeout(t); resolve(); }
      });
      this.proc.on('exit', (c) => reject(new Error('server exited ' + c + ': ' + out)));
    });
    for (const [name, role] of [['ada', 'admin'], ['otto', 'operator'], ['vera', 'viewer']]) {
      const r = spawnSync(BIN, ['user', 'add', '--config', this.cfg, '--name', name, '--role', role],
        { input: PASSWORD + '\n' });
      if (r.status !== 0) throw new Error('user add: ' + r.stderr);
    }
  }

  async api(method, p, body) {
    const r = await fetch(this.url + p, {
      method, headers: { Authorization: 'Bearer ' + this.token, 'Content-Type': 'application/json' },
      body: body ? JSON.stringify(body) : undefined,
    });
    return { status: r.status, json: await r.json() };
  }

  stop() {
    if (this.proc && this.proc.exitCode === null) this.proc.kill('SIGTERM');
  }
}

const tests = [];
function test(name, fn) { tests.push({ name, fn }); }

async function signIn(page, srv, user) {
  await page.goto(srv.url + '/');
  await page.fill('#login-user', user);
  await page.fill('#login-pass', PASSWORD);
  await page.click('#login-form button[type=submit]');
  await page.waitForSelector('#catalog');
}

async function shot(page, name) {
  await page.screenshot({ path: path.join(ART, 'ui-' + name + '.png'), fullPage: true });
}

// ---- the tests ----

test('sign in: wrong password refused, right one shows the catalog', async ({ srv, browser }) => {
  const ctx = await browser.newContext();
  const page = await ctx.newPage();
  await page.goto(srv.url + '/');
  await page.waitForSelector('#login-form');
  await shot(page, 'login');
  await page.fill('#login-user', 'otto');
  await page.fill('#login-pass', 'wrong password');
  await page.click('#login-form button[type=submit]');
  await page.waitForFunction(() => document.querySelector('#login-error')?.textContent.includes('Wrong'));
  await page.fill('#login-pass', PASSWORD);
  await page.click('#login-form button[type=submit]');
  await page.waitForSelector('#catalog [data-automation=echo]');
  const cookies = await ctx.cookies();
  const c = cookies.find((k) => k.name === 'rc_session');
  if (!c || !c.httpOnly || c.sameSite !== 'Strict') throw new Error('cookie flags: ' + JSON.stringify(c));
  // The catalog search filters.
  await page.fill('#catalog-search', 'sleep');
  await page.waitForFunction(() => document.querySelectorAll('#catalog [data-automation]').length === 1);
  await page.fill('#catalog-search', '');
  // A scheduled automation shows its cron, zone and next fire time.
  const sched = await page.textContent('#catalog [data-automation=admin-only] .schedule');
  assert.match(sched, /^Schedule: 0 3 \* \* \* \(Europe\/Berlin\), next /);
  await shot(page, 'catalog');
  await ctx.close();
});

test('a validation error is shown at its field (browser and server)', async ({ srv, browser }) => {
  const ctx = await browser.newContext();
  const page = await ctx.newPage();
  await signIn(page, srv, 'otto');
  await page.goto(srv.url + '/#/automations/echo');
  await page.waitForSelector('#run-form');
  // Browser-side rules: required and max.
  await page.fill('#param-count', '9');
  await page.click('#run-submit');
  await page.waitForFunction(() => document.querySelector('#err-message')?.textContent.includes('required'));
  const countErr = await page.textContent('#err-count');
  if (!countErr.includes('at most 5')) throw new Error('count error: ' + countErr);
  await page.fill('#param-count', '2');
  await page.fill('#param-message', 'hello');
  await page.fill('#param-code', 'abc');
  await page.click('#run-submit');
  await page.waitForFunction(() => document.querySelector('#err-code')?.textContent.includes('pattern'));
  await page.fill('#param-code', 'ABC-1');
  // A rule only the server can check: a path that leaves its root
  // through a symlink.  Its 422 names the field.
  await page.fill('#param-folder', srv.dir + '/files/out/etc');
  await page.click('#run-submit');
  await page.waitForFunction(() => document.querySelector('#err-folder')?.textContent.includes('inside'));
  const invalid = await page.getAttribute('#param-folder', 'aria-invalid');
  if (invalid !== 'true') throw new Error('folder not marked invalid');
  await shot(page, 'run-form-error');
  await ctx.close();
});

test('start a parameterised run and see its output appear live', async ({ srv, browser }) => {
  const ctx = await browser.newContext();
  const page = await ctx.newPage();
  await signIn(page, srv, 'otto');
  await page.goto(srv.url + '/#/automations/sleeper');
  await page.fill('#param-seconds', '3');
  await page.click('#run-submit');
  await page.waitForURL(/#\/runs\/r[0-9a-f]+$/);
  // Output arrives while the run is still running.
  await page.waitForFunction(() => document.querySelector('#log')?.textContent.includes('tick 3'));
  const state = await page.getAttribute('#run-state .state', 'data-state');
  if (state !== 'running') throw new Error('expected running while output arrives, got ' + state);
  await shot(page, 'run-live');
  await page.waitForSelector('#run-state .state[data-state=succeeded]', { timeout: 15000 });
  const text = await page.textContent('#log');
  if (!text.includes('tick 29') || !text.includes('done')) throw new Error('log incomplete: ' + text.slice(-200));
  // Parameters are shown; Run again is pre-filled.
  const params = await page.textContent('#run-params');
  if (!params.includes('seconds') || !params.includes('3')) throw new Error('params: ' + params);
  await page.click('#again');
  await page.waitForSelector('#run-form');
  await page.waitForFunction(() => document.querySelector('#param-seconds').value === '3');
  await ctx.close();
});

test('stop a long run with confirmation and see cancelled', async ({ srv, browser }) => {
  const ctx = await browser.newContext();
  const page = await ctx.newPage();
  await signIn(page, srv, 'otto');
  await page.goto(srv.url + '/#/automations/sleeper');
  await page.fill('#param-seconds', '120');
  await page.click('#run-submit');
  await page.waitForFunction(() => document.querySelector('#log')?.textContent.includes('tick 2'));
  await page.click('#stop');
  await page.waitForSelector('#confirm[open]');
  await shot(page, 'stop-confirm');
  await page.click('#confirm-yes');
  await page.waitForSelector('#run-state .state[data-state=cancelled]', { timeout: 15000 });
  await page.waitForFunction(() => document.querySelector('#log-status')?.textContent.includes('cancelled'));
  await page.setViewportSize({ width: 1100, height: 900 });
  await shot(page, 'run-page');
  fs.copyFileSync(path.join(ART, 'ui-run-page.png'), path.join(ROOT, 'docs', 'run-page.png'));
  await ctx.close();
});

test('a viewer sees no Run button', async ({ srv, browser }) => {
  const ctx = await browser.newContext();
  const page = await ctx.newPage();
  await signIn(page, srv, 'vera');
  const runLinks = await page.$$('#catalog a.button:text-is("Run")');
  if (runLinks.length !== 0) throw new Error('viewer sees ' + runLinks.length + ' Run buttons');
  await page.goto(srv.url + '/#/automations/echo');
  await page.waitForSelector('#cannot-run');
  if (await page.$('#run-submit')) throw new Error('viewer has a submit button');
  if (!(await page.isHidden('#nav-admin'))) throw new Error('viewer sees Admin');
  await shot(page, 'viewer-form');
  // The admin page says why it is refused.
  await page.goto(srv.url + '/#/admin');
  await page.waitForFunction(() => document.querySelector('#main')?.textContent.includes('not allowed'));
  await ctx.close();
});

test('the run list updates without reload', async ({ srv, browser }) => {
  const ctx = await browser.newContext();
  const page = await ctx.newPage();
  await signIn(page, srv, 'otto');
  await page.goto(srv.url + '/#/runs');
  await page.waitForSelector('#runs-table');
  await page.evaluate(() => { window.__noReload = true; });
  await page.waitForTimeout(300); // the live stream connects
  const r = await srv.api('POST', '/api/v1/runs', { automation: 'sleeper', parameters: { seconds: 1 } });
  if (r.status !== 202) throw new Error('submit: ' + JSON.stringify(r));
  const id = r.json.id;
  await page.waitForSelector(`tr[data-run="${id}"]`, { timeout: 5000 });
  await page.waitForSelector(`tr[data-run="${id}"][data-state=running]`, { timeout: 5000 });
  await shot(page, 'runs-live');
  await page.waitForSelector(`tr[data-run="${id}"][data-state=succeeded]`, { timeout: 10000 });
  if (!(await page.evaluate(() => window.__noReload))) throw new Error('the page reloaded');
  // Running runs come first.
  const r2 = await srv.api('POST', '/api/v1/runs', { automation: 'sleeper', parameters: { seconds: 5 } });
  await page.waitForSelector(`tr[data-run="${r2.json.id}"][data-state=running]`, { timeout: 5000 });
  const first = await page.getAttribute('#runs-body tr:first-child', 'data-run');
  if (first !== r2.json.id) throw new Error('running run is not first');
  // Filter by state.
  await page.selectOption('#f-state', 'succeeded');
  await page.waitForFunction(() => [...document.querySelectorAll('#runs-body tr')].every((tr) => tr.dataset.state === 'succeeded'));
  await srv.api('POST', `/api/v1/runs/${r2.json.id}/stop`);
  await ctx.close();
});

test('admin page: users, tokens, audit; CSRF is required', async ({ srv, browser }) => {
  const ctx = await browser.newContext();
  const page = await ctx.newPage();
  await signIn(page, srv, 'ada');
  await page.click('#nav-admin');
  await page.waitForSelector('#users');
  const users = await page.textContent('#users');
  for (const u of ['ada', 'otto', 'vera']) if (!users.includes(u)) throw new Error('users: ' + users);
  await page.fill('#nu-name', 'nina');
  await page.selectOption('#nu-role', 'operator');
  await page.fill('#nu-pw', 'nina password 1');
  await page.click('#add-user button[type=submit]');
  await page.waitForFunction(() => document.querySelector('#users')?.textContent.includes('nina'));
  await page.fill('#nt-user', 'nina');
  await page.fill('#nt-label', 'ci');
  await page.click('#add-token button[type=submit]');
  await page.waitForSelector('#new-token .token-box');
  const audit = await page.textContent('#audit');
  if (!audit.includes('session.create')) throw new Error('audit: ' + audit.slice(0, 300));
  await shot(page, 'admin');
  // A state-changing request with the cookie but without the CSRF header
  // is refused.
  const st = await page.evaluate(async () => (await fetch('/api/v1/runs', {
    method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ automation: 'sleeper', parameters: {} }),
  })).status);
  if (st !== 403) throw new Error('POST without CSRF token answered ' + st);
  // Sign out ends the session.
  await page.click('#signout');
  await page.waitForSelector('#login-form');
  const st2 = await page.evaluate(async () => (await fetch('/api/v1/runs')).status);
  if (st2 !== 401) throw new Error('after sign-out GET answered ' + st2);
  await ctx.close();
});

test('phone width: run list and run page are usable', async ({ srv, browser }) => {
  const ctx = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
  const page = await ctx.newPage();
  await signIn(page, srv, 'otto');
  await shot(page, 'phone-catalog');
  await page.goto(srv.url + '/#/runs');
  await page.waitForSelector('#runs-body tr');
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth > window.innerWidth + 1);
  if (overflow) throw new Error('the run list overflows the phone width');
  await shot(page, 'phone-runs');
  await page.click('#runs-body tr:first-child a');
  await page.waitForSelector('#log');
  await shot(page, 'phone-run');
  await ctx.close();
});

// ---- runner ----

async function main() {
  fs.mkdirSync(ART, { recursive: true });
  const srv = new Server();
  let browser;
  let passed = 0, failed = 0;
  try {
    await srv.start();
    browser = await chromium.launch({
      executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
      // playwright gives the browser a new empty profile folder itself.
      args: CHROMIUM_ARGS,
    });
  } catch (e) {
    console.log('setup failed: ' + (e.stack || e));
    srv.stop();
    console.log('0 passed, 1 failed');
    process.exit(1);
  }
  const only = process.env.TEST_ONLY;
  for (const t of tests) {
    if (only && !t.name.includes(only)) continue;
    const t0 = Date.now();
    try {
      await t.fn({ srv, browser });
      passed++;
      console.log(`ok   ${t.name} ${((Date.now() - t0) / 1000).toFixed(2)}s`);
    } catch (e) {
      failed++;
      console.log(`FAIL ${t.name} ${((Date.now() - t0) / 1000).toFixed(2)}s\n${e.stack || e}`);
    }
  }
  await browser.close();
  srv.stop();
  if (!failed) fs.rmSync(srv.dir, { recursive: true, force: true });
  else console.log('server folder kept: ' + srv.dir);
  console.log(`${passed} passed, ${failed} failed`);
  process.exit(failed ? 1 : 0);
}

main();
