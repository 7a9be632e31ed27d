import {
  test as base,
  expect,
  type Browser,
  type Locator,
  type Page,
  type TestInfo,
} from '@playwright/test';

export { expect };

/** Password used for every account the tests create. */
export const PASSWORD = 'secret123';

/** A fresh, never-used-before email address. */
export function uniqueEmail(): string {
  const random = Math.random().toString(36).slice(2, 10);
  return `user-${Date.now()}-${random}@example.com`;
}

/** Matches a URL whose path is exactly `path` (any origin, optional query/hash). */
export function pathIs(path: string): RegExp {
  const escaped = path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return new RegExp(`^https?://[^/]+${escaped}([?#].*)?$`);
}

/** The services' JSON API: the web app's pages never call it from the browser. */
const SERVICE_API = /^\/api\/(users|tickets|orders|payments)(\/|$)/;

/**
 * Collects everything that shows a broken or unsafe page: uncaught exceptions
 * (`pageerror`, e.g. a wasm panic / `RuntimeError: unreachable`), console
 * messages of type `error` (a hydration error, a CSP violation, a failed
 * request such as a missing favicon), any dialog (an injected `alert()`), and
 * any request from the browser to the services' `/api/…` routes (pages get
 * their data through server functions). The `browserErrors` fixture asserts at
 * the end of every test that none were seen.
 */
export class BrowserErrors {
  private readonly seen: string[] = [];
  private readonly allowed: RegExp[] = [];

  /** Start recording errors of `page` (the default page is watched automatically). */
  watch(page: Page): void {
    page.on('pageerror', (err) => {
      this.seen.push(`pageerror: ${err.stack || err.message}`);
    });
    page.on('console', (msg) => {
      if (msg.type() !== 'error') return;
      const url = msg.location()?.url;
      this.seen.push(`console.error: ${msg.text()}${url ? ` (url: ${url})` : ''}`);
    });
    page.on('dialog', (dialog) => {
      this.seen.push(`dialog: ${dialog.type()} ${dialog.message()}`);
      void dialog.dismiss();
    });
    page.on('request', (request) => {
      const path = new URL(request.url()).pathname;
      if (SERVICE_API.test(path)) this.seen.push(`service API request: ${request.method()} ${path}`);
    });
  }

  /** Tolerate errors matching `pattern` for the rest of the current test. */
  allow(pattern: RegExp): void {
    this.allowed.push(pattern);
  }

  unexpected(): string[] {
    return this.seen.filter((e) => !this.allowed.some((re) => re.test(e)));
  }
}

export const test = base.extend<{ browserErrors: BrowserErrors }>({
  browserErrors: [
    async ({ page }, use) => {
      const errors = new BrowserErrors();
      errors.watch(page);
      await use(errors);
      expect(errors.unexpected(), 'browser console errors / uncaught page errors').toEqual([]);
    },
    { auto: true },
  ],
});

/** Waits until the client-side (wasm) app has hydrated the current document. */
export async function waitForHydration(page: Page): Promise<void> {
  await page.waitForSelector('body[data-hydrated="true"]', { state: 'attached', timeout: 15_000 });
}

/** Full page load of `path`, then waits for hydration. */
export async function gotoHydrated(page: Page, path: string): Promise<void> {
  await page.goto(path);
  await waitForHydration(page);
}

export const header = (page: Page): Locator => page.locator('header.site-header');
export const nav = (page: Page): Locator => header(page).locator('nav.nav');
export const userEmail = (page: Page): Locator => header(page).getByTestId('user-email');
export const h1 = (page: Page): Locator => page.getByRole('heading', { level: 1 });

/** Header state of a signed-in user. */
export async function expectSignedIn(page: Page, email: string): Promise<void> {
  await expect(userEmail(page)).toHaveText(email);
  await expect(nav(page).getByRole('button', { name: 'Sign out', exact: true })).toBeVisible();
  await expect(nav(page).getByRole('link', { name: 'Sign in', exact: true })).toHaveCount(0);
  await expect(nav(page).getByRole('link', { name: 'Sign up', exact: true })).toHaveCount(0);
}

/** Header state of a visitor. */
export async function expectSignedOut(page: Page): Promise<void> {
  await expect(nav(page).getByRole('link', { name: 'Sign in', exact: true })).toBeVisible();
  await expect(nav(page).getByRole('link', { name: 'Sign up', exact: true })).toBeVisible();
  await expect(userEmail(page)).toHaveCount(0);
  await expect(nav(page).getByRole('button', { name: 'Sign out', exact: true })).toHaveCount(0);
}

type AuthKind = 'signup' | 'signin';
const TITLES: Record<AuthKind, string> = { signup: 'Sign up', signin: 'Sign in' };

/**
 * Opens /auth/signup or /auth/signin (full load, then hydration unless the page
 * has JavaScript off), fills the form and submits it. The form is `novalidate`,
 * so the app's own validation is what gets exercised.
 */
export async function submitAuthForm(
  page: Page,
  kind: AuthKind,
  email: string,
  password: string,
  hydrated = true,
): Promise<void> {
  const title = TITLES[kind];
  if (hydrated) await gotoHydrated(page, `/auth/${kind}`);
  else await page.goto(`/auth/${kind}`);
  await expect(h1(page)).toHaveText(title);
  const form = page.locator('form').filter({ has: page.locator('input[name="email"]') });
  await form.locator('input[name="email"]').fill(email);
  await form.locator('input[name="password"]').fill(password);
  await form.getByRole('button', { name: title, exact: true }).click();
}

/** Creates a new account through the UI and checks the app signed it in. */
export async function signUp(
  page: Page,
  email: string,
  password = PASSWORD,
  hydrated = true,
): Promise<void> {
  await submitAuthForm(page, 'signup', email, password, hydrated);
  await expect(page).toHaveURL(pathIs('/'));
  await expectSignedIn(page, email);
}

/** Signs in through the UI and checks the app signed the user in. */
export async function signIn(page: Page, email: string, password = PASSWORD): Promise<void> {
  await submitAuthForm(page, 'signin', email, password);
  await expect(page).toHaveURL(pathIs('/'));
  await expectSignedIn(page, email);
}

/** Services learn about each other's changes through events: give them a few seconds. */
export const EVENTUALLY = { timeout: 15_000, intervals: [250, 500, 1_000] };

export function uniqueTitle(): string {
  return `Concert ${Date.now()}-${Math.random().toString(36).slice(2, 8)}`;
}

export const ticketCard = (page: Page, title: string): Locator =>
  page.locator('ul.ticket-list li.ticket-card').filter({ hasText: title });

/**
 * A signed-up user in a browser context of their own (their own cookies), on `baseURL`
 * (default: the project's).
 */
export async function newUser(
  browser: Browser,
  testInfo: TestInfo,
  browserErrors: BrowserErrors,
  baseURL: string | undefined = testInfo.project.use.baseURL,
): Promise<Page> {
  const context = await browser.newContext({ baseURL });
  const page = await context.newPage();
  browserErrors.watch(page);
  await signUp(page, uniqueEmail());
  return page;
}

/** Lists a ticket through the sell form and returns its page's path. */
export async function listTicket(page: Page, title: string, price: string): Promise<string> {
  await nav(page).getByRole('link', { name: 'Sell a ticket', exact: true }).click();
  await expect(page).toHaveURL(pathIs('/tickets/new'));
  await expect(h1(page)).toHaveText('Sell a ticket');
  await page.locator('input[name="title"]').fill(title);
  await page.locator('input[name="price"]').fill(price);
  await page.getByRole('button', { name: 'List ticket', exact: true }).click();
  await expect(page).toHaveURL(/\/tickets\/[^/?#]+$/);
  await expect(h1(page)).toHaveText(title);
  return new URL(page.url()).pathname;
}

/**
 * Purchases the ticket at `ticketPath` and returns the order's path. The orders service
 * may not have heard of the ticket yet, so this retries.
 */
export async function purchase(
  buyer: Page,
  ticketPath: string,
  hydrated = true,
): Promise<string> {
  const open = async () => {
    if (hydrated) await gotoHydrated(buyer, ticketPath);
    else await buyer.goto(ticketPath);
  };
  await expect(async () => {
    if (!pathIs(ticketPath).test(buyer.url())) await open();
    await buyer.getByRole('button', { name: 'Purchase', exact: true }).click({ timeout: 2_000 });
    try {
      await expect(buyer).toHaveURL(/\/orders\/[^/?#]+$/, { timeout: 5_000 });
    } catch (e) {
      await open();
      throw e;
    }
  }).toPass(EVENTUALLY);
  return new URL(buyer.url()).pathname;
}
