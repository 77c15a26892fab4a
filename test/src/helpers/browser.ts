import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import {
  type Browser,
  type ConsoleMessage,
  chromium,
  type Page,
  type Request,
  type Response,
} from 'playwright-core';
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

/**
 * Signs in through the login page. When the list does not follow, the failure says why: the
 * page's alert, the requests left unanswered or refused, and what the page logged.
 */
export async function signIn(page: Page, baseUrl: string, username: string, password: string): Promise<void> {
  const watch = watchNetwork(page);
  try {
    try {
      await page.goto(baseUrl);
      await page.getByLabel('User name').fill(username);
    } catch (err) {
      const loading = await page.getByText('Loading…').count();
      throw new Error(
        `the login form did not appear (${loading ? 'still loading' : 'loaded'}): ${(err as Error).message}`,
      );
    }
    await page.getByLabel('Password').fill(password);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    const alert = page.getByRole('alert');
    const shown = await Promise.race([
      settle('list', page.getByRole('heading', { name: 'Deployments' }).waitFor()),
      settle('alert', alert.waitFor()),
    ]);
    if (shown === 'alert') throw new Error(`the page says: ${await alert.first().textContent()}`);
  } catch (err) {
    throw new Error(
      `signing in as ${username} failed (page ${page.url()}; ${watch.report()}): ${(err as Error).message}`,
    );
  } finally {
    watch.stop();
  }
}

/** The wait that loses a race ends at the deadline: its failure is nobody's. */
function settle<T>(what: T, wait: Promise<void>): Promise<T> {
  wait.catch(() => {});
  return wait.then(() => what);
}

/** What a page asked and was answered meanwhile, and what it logged: for a failure's message. */
function watchNetwork(page: Page) {
  const pending = new Set<string>();
  const refused: string[] = [];
  const logged: string[] = [];
  const name = (r: Request) => `${r.method()} ${new URL(r.url()).pathname}`;
  const listeners = {
    request: (r: Request) => pending.add(name(r)),
    requestfinished: (r: Request) => pending.delete(name(r)),
    requestfailed: (r: Request) => {
      pending.delete(name(r));
      refused.push(`${name(r)} failed: ${r.failure()?.errorText}`);
    },
    response: (r: Response) => {
      if (r.status() >= 400) refused.push(`${name(r.request())} → ${r.status()}`);
    },
    console: (m: ConsoleMessage) => {
      if (m.type() === 'error' || m.type() === 'warning') logged.push(m.text());
    },
    pageerror: (e: Error) => logged.push(e.message),
  };
  // (one loop for all: Page's typings name each event's listener apart)
  type Listener = (x: Request) => void;
  for (const [event, listener] of Object.entries(listeners))
    page.on(event as 'request', listener as Listener);
  return {
    report: () =>
      [
        `unanswered: ${[...pending].join(', ') || 'none'}`,
        `refused: ${refused.join(', ') || 'none'}`,
        `logged: ${logged.join(' | ') || 'nothing'}`,
      ].join('; '),
    stop: () => {
      for (const [event, listener] of Object.entries(listeners))
        page.off(event as 'request', listener as Listener);
    },
  };
}

/**
 * Waits for the page's status line to say `text`; an error the page shows instead (`role=alert`)
 * fails at once with its words, rather than at the deadline with none.
 */
export async function statusSays(page: Page, text: string | RegExp): Promise<void> {
  const status = page.getByRole('status').filter({ hasText: text });
  const alert = page.getByRole('alert');
  const shown = await Promise.race([settle('status', status.waitFor()), settle('alert', alert.waitFor())]);
  if (shown === 'alert' && !(await status.count()))
    throw new Error(`expected "${text}", the page says: ${await alert.first().textContent()}`);
}
