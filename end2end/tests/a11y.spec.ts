import AxeBuilder from '@axe-core/playwright';
import { type Browser, type Page, type TestInfo } from '@playwright/test';
import {
  type BrowserErrors,
  EVENTUALLY,
  PASSWORD,
  expect,
  gotoHydrated,
  h1,
  listTicket,
  newUser,
  pathIs,
  purchase,
  signUp,
  submitAuthForm,
  test,
  uniqueEmail,
  uniqueTitle,
} from './fixtures';

/** Every WCAG 2.x level A and AA rule axe has (colour contrast among them). */
const WCAG_A_AA = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa'];

/** Desktop and phone, light and dark (the stylesheet has a dark palette). */
const VIEWS = [
  { width: 1280, colorScheme: 'light' },
  { width: 390, colorScheme: 'light' },
  { width: 390, colorScheme: 'dark' },
] as const;

/** One line per failing element, with the colours axe measured when it is about contrast. */
function describeViolations(violations: Awaited<ReturnType<AxeBuilder['analyze']>>['violations']) {
  return violations.flatMap((v) =>
    v.nodes.map((node) => {
      const data = node.any.find((check) => check.data?.contrastRatio)?.data;
      const colours = data
        ? ` — ${data.fgColor} on ${data.bgColor}, ${data.contrastRatio}:1 (needs ${data.expectedContrastRatio})`
        : '';
      return `${v.id} [${v.impact}] ${node.target.join(' ')}: ${v.help}${colours}`;
    }),
  );
}

/**
 * axe's results for the page. axe is a script, so a page with JavaScript off is checked as a
 * copy: its DOM without the scripts, in a page where axe can run (the site uses no
 * `<noscript>`, so the copy renders the same).
 */
async function axe(page: Page) {
  if (await page.evaluate(() => document.body.dataset.hydrated === 'true')) {
    return new AxeBuilder({ page }).withTags(WCAG_A_AA).analyze();
  }
  const html = (await page.content()).replace(/<script\b[\s\S]*?<\/script>/gi, '');
  const context = await page.context().browser()!.newContext({
    viewport: page.viewportSize(),
    colorScheme: (await page.evaluate(() => matchMedia('(prefers-color-scheme: dark)').matches))
      ? 'dark'
      : 'light',
    reducedMotion: 'reduce',
  });
  try {
    const copy = await context.newPage();
    await copy.route(page.url(), (route) =>
      route.fulfill({ contentType: 'text/html; charset=utf-8', body: html }),
    );
    await copy.goto(page.url());
    const styled = await copy.evaluate(
      () => getComputedStyle(document.documentElement).getPropertyValue('--brand') !== '',
    );
    expect(styled, 'the stylesheet applies to the copy').toBe(true);
    return await new AxeBuilder({ page: copy }).withTags(WCAG_A_AA).analyze();
  } finally {
    await context.close();
  }
}

/**
 * Runs axe's WCAG 2 A/AA rules on the page as it is, at each of `VIEWS` (the page is not
 * reloaded: only the viewport and the colour scheme change), and expects no serious or
 * critical violation. On a phone, nothing may stick out sideways either.
 */
async function expectAccessible(page: Page, what: string): Promise<void> {
  await expect(h1(page).first()).toBeVisible();
  for (const { width, colorScheme } of VIEWS) {
    await page.setViewportSize({ width, height: 800 });
    // Reduced motion turns transitions off, so no colour is measured halfway.
    await page.emulateMedia({ colorScheme, reducedMotion: 'reduce' });
    const { violations } = await axe(page);
    const serious = violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
    expect(describeViolations(serious), `${what} at ${width}px, ${colorScheme}`).toEqual([]);
    if (width < 640) {
      const overflow = await page.evaluate(
        () => document.documentElement.scrollWidth - document.documentElement.clientWidth,
      );
      expect(overflow, `${what} at ${width}px scrolls sideways`).toBeLessThanOrEqual(0);
    }
  }
  await page.setViewportSize({ width: 1280, height: 720 });
  await page.emulateMedia({ colorScheme: 'light', reducedMotion: null });
}

async function newPage(
  browser: Browser,
  testInfo: TestInfo,
  browserErrors: BrowserErrors,
  javaScriptEnabled = true,
): Promise<Page> {
  const context = await browser.newContext({
    baseURL: testInfo.project.use.baseURL,
    javaScriptEnabled,
  });
  const page = await context.newPage();
  browserErrors.watch(page);
  return page;
}

test.describe('contrast and WCAG 2 A/AA on every page', () => {
  test('the pages a visitor sees, and forms showing their errors', async ({
    page,
    browserErrors,
  }) => {
    test.setTimeout(240_000);
    browserErrors.allow(/status of 404 \(Not Found\) \(url: [^)]*\/no-such-page\)$/);
    for (const [path, what] of [
      ['/', 'landing'],
      ['/how-it-works', 'how it works'],
      ['/auth/signup', 'sign up'],
      ['/auth/signin', 'sign in'],
      ['/tickets/new', 'sell a ticket, signed out'],
      ['/orders', 'my orders, signed out'],
      ['/no-such-page', 'the 404 page'],
    ]) {
      await gotoHydrated(page, path);
      await expectAccessible(page, what);
    }

    await submitAuthForm(page, 'signin', uniqueEmail(), 'wrong-password');
    await expect(page.locator('.form-error')).toBeVisible();
    await expectAccessible(page, 'a failed sign-in');

    await submitAuthForm(page, 'signup', 'not-an-email', 'x');
    await expect(page.locator('.field-error[data-field="email"]')).toBeVisible();
    await expectAccessible(page, 'sign up with field errors');
  });

  test('a seller, a buyer and another user: tickets for sale, reserved and sold; orders open, cancelled and paid', async ({
    page: seller,
    browser,
    browserErrors,
  }, testInfo) => {
    test.setTimeout(480_000);
    const title = uniqueTitle();
    await signUp(seller, uniqueEmail());
    await expectAccessible(seller, 'landing, signed in');
    await gotoHydrated(seller, '/tickets/new');
    await seller.getByRole('button', { name: 'List ticket', exact: true }).click();
    await expect(seller.locator('.field-error[data-field="title"]')).toBeVisible();
    await expectAccessible(seller, 'sell a ticket with field errors');
    await gotoHydrated(seller, '/');
    const ticketPath = await listTicket(seller, title, '20.50');
    await gotoHydrated(seller, ticketPath);
    await expectAccessible(seller, 'ticket for sale, as its seller');
    await gotoHydrated(seller, `${ticketPath}/edit`);
    await expectAccessible(seller, 'edit ticket');
    await gotoHydrated(seller, '/orders');
    await expect(seller.locator('.empty-state')).toBeVisible();
    await expectAccessible(seller, 'my orders, none yet');

    const visitor = await newPage(browser, testInfo, browserErrors);
    await gotoHydrated(visitor, ticketPath);
    await expectAccessible(visitor, 'ticket for sale, as a visitor');

    const other = await newUser(browser, testInfo, browserErrors);
    await gotoHydrated(other, `/?q=${encodeURIComponent(title)}`);
    await expectAccessible(other, 'search results');
    await gotoHydrated(other, ticketPath);
    await expect(other.getByRole('button', { name: 'Purchase', exact: true })).toBeVisible();
    await expectAccessible(other, 'ticket for sale, as another user');

    // A first order, cancelled; then a second one, declined once, then paid.
    const buyer = await newUser(browser, testInfo, browserErrors);
    await purchase(buyer, ticketPath);
    await buyer.getByRole('button', { name: 'Cancel order', exact: true }).click();
    await expect(buyer.locator('.status.status-cancelled')).toBeVisible();
    await expectAccessible(buyer, 'a cancelled order');
    const orderPath = await purchase(buyer, ticketPath);
    await gotoHydrated(buyer, orderPath);
    await expect(buyer.locator('.countdown')).toBeVisible();
    await expectAccessible(buyer, 'an order awaiting payment');
    await buyer.getByRole('radio', { name: /declined/ }).check();
    await buyer.getByRole('button', { name: /^Pay / }).click();
    await expect(buyer.getByRole('alert')).toBeVisible();
    await expectAccessible(buyer, 'an order whose card was declined');
    await gotoHydrated(buyer, '/orders');
    await expectAccessible(buyer, 'my orders, one cancelled and one open');

    await expect(async () => {
      await gotoHydrated(other, ticketPath);
      await expect(other.locator('.badge.reserved')).toBeVisible({ timeout: 1_000 });
    }).toPass(EVENTUALLY);
    await expectAccessible(other, 'a reserved ticket, as another user');
    await gotoHydrated(seller, ticketPath);
    await expectAccessible(seller, 'a reserved ticket, as its seller');
    await gotoHydrated(seller, `${ticketPath}/edit`);
    await expectAccessible(seller, 'editing a reserved ticket');
    await gotoHydrated(buyer, ticketPath);
    await expectAccessible(buyer, 'a reserved ticket, as its buyer');

    await gotoHydrated(buyer, orderPath);
    await buyer.getByRole('radio', { name: /succeeds/ }).check();
    await buyer.getByRole('button', { name: /^Pay / }).click();
    await expect(buyer.locator('.status.status-complete')).toBeVisible();
    await expectAccessible(buyer, 'a paid order, with its receipt');
    await gotoHydrated(buyer, '/orders');
    await expect(buyer.locator('.orders-table .receipt-amount')).toBeVisible();
    await expectAccessible(buyer, 'my orders, with a receipt');
    await gotoHydrated(buyer, ticketPath);
    await expectAccessible(buyer, 'a sold ticket, as its buyer');
    await gotoHydrated(seller, ticketPath);
    await expectAccessible(seller, 'a sold ticket, as its seller');
    await gotoHydrated(visitor, ticketPath);
    await expectAccessible(visitor, 'a sold ticket, as a visitor');

    for (const page of [visitor, other, buyer]) await page.context().close();
  });

  test('without JavaScript', async ({ browser, browserErrors }, testInfo) => {
    test.setTimeout(240_000);
    const page = await newPage(browser, testInfo, browserErrors, false);
    await page.goto('/');
    await expectAccessible(page, 'landing, no JS');
    await submitAuthForm(page, 'signin', uniqueEmail(), 'wrong-password', false);
    await expect(page.locator('.form-error')).toBeVisible();
    await expectAccessible(page, 'a failed sign-in, no JS');
    await submitAuthForm(page, 'signup', uniqueEmail(), PASSWORD, false);
    await expect(page).toHaveURL(pathIs('/'));
    await page.goto('/tickets/new');
    await page.getByRole('button', { name: 'List ticket', exact: true }).click();
    await expect(page.locator('.field-error[data-field="title"]')).toBeVisible();
    await expectAccessible(page, 'sell a ticket with field errors, no JS');
    await page.goto('/orders');
    await expectAccessible(page, 'my orders, no JS');
    await page.context().close();
  });
});
