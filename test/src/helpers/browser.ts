import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { type Browser, chromium, type Page, type Request } from 'playwright-core';
import { DEADLINE_MS } from './time.js';

/** Where browser tests write their screenshots (a CI artifact). */
export const SCREENSHOTS = resolve('test-artifacts', 'screenshots');

/**
 * Debian's Chromium driven by playwright-core (nothing is downloaded). Host names under
 * `nullops.test` resolve to this machine, so service URLs of deployments open as they would
 * behind real DNS.
 */
export async function launchBrowser(): Promise<Browser> {
  await mkdir(SCREENSHOTS, { recursive: true });
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--host-resolver-rules=MAP *.nullops.test 127.0.0.1',
    ],
  });
  // Every wait of a page (a locator, a navigation) has the suite's one deadline.
  const newContext = browser.newContext.bind(browser);
  browser.newContext = async (options) => {
    const context = await newContext(options);
    context.setDefaultTimeout(DEADLINE_MS);
    return context;
  };
  const newPage = browser.newPage.bind(browser);
  browser.newPage = async (options) => {
    const page = await newPage(options);
    page.setDefaultTimeout(DEADLINE_MS);
    return page;
  };
  return browser;
}

export async function screenshot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true });
}

/** Signs in through the login page. */
export async function signIn(page: Page, baseUrl: string, username: string, password: string): Promise<void> {
  const pending = new Set<string>();
  const track = (r: Request) => pending.add(`${r.method()} ${r.url()}`);
  const done = (r: Request) => pending.delete(`${r.method()} ${r.url()}`);
  page.on('request', track);
  page.on('requestfinished', done);
  page.on('requestfailed', done);
  try {
    await page.goto(baseUrl);
    await page.getByLabel('User name').fill(username);
  } catch (err) {
    // Rare, and only on a busy machine: say what the page was waiting for, not only that it waited.
    const loading = await page.getByText('Loading…').count();
    throw new Error(
      `the login form did not appear (page ${page.url()}, ${loading ? 'still loading' : 'loaded'}, requests unanswered: ${[...pending].join(', ') || 'none'}): ${(err as Error).message}`,
    );
  } finally {
    page.off('request', track);
    page.off('requestfinished', done);
    page.off('requestfailed', done);
  }
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  await page.getByRole('heading', { name: 'Deployments' }).waitFor();
}

/**
 * Waits for the page's status line to say `text`; an error the page shows instead (`role=alert`)
 * fails at once with its words, rather than at the deadline with none.
 */
export async function statusSays(page: Page, text: string | RegExp): Promise<void> {
  const status = page.getByRole('status').filter({ hasText: text });
  const alert = page.getByRole('alert');
  // The wait that loses the race ends at the deadline: its failure is nobody's.
  const seen = (what: 'status' | 'alert', wait: Promise<void>) => {
    wait.catch(() => {});
    return wait.then(() => what);
  };
  const shown = await Promise.race([seen('status', status.waitFor()), seen('alert', alert.waitFor())]);
  if (shown === 'alert' && !(await status.count()))
    throw new Error(`expected "${text}", the page says: ${await alert.first().textContent()}`);
}
