import { type Browser, type BrowserContext, type Page, type TestInfo } from '@playwright/test';
import {
  type BrowserErrors,
  EVENTUALLY,
  PASSWORD,
  expect,
  expectSignedIn,
  gotoHydrated,
  h1,
  listTicket,
  newUser,
  pathIs,
  purchase,
  signUp,
  test,
  uniqueEmail,
  uniqueTitle,
} from './fixtures';

/** A server whose reservations last a few seconds (`cargo xtask test` starts one). */
const SHORT_WINDOW_URL = process.env.SHORT_WINDOW_URL;

/** One character to the server, two UTF-16 units to `maxlength`. */
const TICKET_EMOJI = '\u{1F3AB}';

/** A context of its own, signed out, with JavaScript on or off. */
async function visitorPage(
  browser: Browser,
  testInfo: TestInfo,
  browserErrors: BrowserErrors,
  javaScriptEnabled: boolean,
  baseURL: string | undefined = testInfo.project.use.baseURL,
): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext({ javaScriptEnabled, baseURL });
  const page = await context.newPage();
  browserErrors.watch(page);
  return { context, page };
}

async function open(page: Page, path: string, js: boolean): Promise<void> {
  if (js) await gotoHydrated(page, path);
  else await page.goto(path);
}

/** Reloads `path` until the ticket's badge reads `badge`. */
async function expectBadge(page: Page, path: string, badge: string, js = true): Promise<void> {
  await expect(async () => {
    await open(page, path, js);
    await expect(page.locator('.ticket-details .badge')).toHaveText(badge, { timeout: 1_000 });
  }).toPass(EVENTUALLY);
}

test.describe('a ticket page tells the truth', () => {
  test('for sale, then reserved until a time, then sold; the buyer is pointed to their order', async ({
    browser,
    browserErrors,
  }, testInfo) => {
    test.setTimeout(120_000);
    const title = uniqueTitle();
    const seller = await newUser(browser, testInfo, browserErrors);
    const ticketPath = await listTicket(seller, title, '12');
    await expect(seller.locator('.ticket-details .badge')).toHaveText('For sale');

    const buyer = await newUser(browser, testInfo, browserErrors);
    const orderPath = await purchase(buyer, ticketPath);

    // Reserved: everyone sees until when; the buyer is sent to pay.
    await expectBadge(buyer, ticketPath, 'Reserved');
    await expect(buyer.getByRole('status')).toContainText('You are holding this ticket until');
    await expect(buyer.locator('.ticket-details time')).toHaveText(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$/);
    await buyer.getByRole('link', { name: 'Pay for your order', exact: true }).click();
    await expect(buyer).toHaveURL(pathIs(orderPath));
    for (const js of [true, false]) {
      const { context, page } = await visitorPage(browser, testInfo, browserErrors, js);
      await expectBadge(page, ticketPath, 'Reserved', js);
      await expect(page.locator('.ticket-details')).toContainText('They have until');
      await expect(page.locator('.ticket-details time')).toHaveText(/ UTC$/);
      await expect(page.getByRole('button', { name: 'Purchase', exact: true })).toHaveCount(0);
      await context.close();
    }

    // Paid: sold, to everyone, with and without JavaScript.
    await buyer.getByRole('button', { name: 'Pay $12.00', exact: true }).click();
    await expect(buyer.locator('.status.status-complete')).toHaveText('Complete');
    await expectBadge(buyer, ticketPath, 'Sold');
    await expect(buyer.getByRole('status')).toHaveText('You bought this ticket.');
    await expect(buyer.getByText('Someone is buying this ticket')).toHaveCount(0);
    await buyer.getByRole('link', { name: 'View your order', exact: true }).click();
    await expect(buyer).toHaveURL(pathIs(orderPath));

    await expectBadge(seller, ticketPath, 'Sold');
    await expect(seller.locator('.seller-note')).toHaveText('You sold this ticket.');
    await expect(seller.getByRole('link', { name: 'Edit', exact: true })).toHaveCount(0);
    for (const js of [true, false]) {
      const { context, page } = await visitorPage(browser, testInfo, browserErrors, js);
      await expectBadge(page, ticketPath, 'Sold', js);
      await expect(page.locator('.ticket-details')).toContainText('This ticket has been sold.');
      await expect(page.getByText('goes back on sale')).toHaveCount(0);
      await expect(page.getByRole('link', { name: 'View your order' })).toHaveCount(0);
      await context.close();
    }
    await seller.context().close();
    await buyer.context().close();
  });

  test('the buyer who loses a race sees why, and the ticket as it now is', async ({
    browser,
    browserErrors,
  }, testInfo) => {
    test.setTimeout(120_000);
    const seller = await newUser(browser, testInfo, browserErrors);
    const ticketPath = await listTicket(seller, uniqueTitle(), '30');
    const late = await newUser(browser, testInfo, browserErrors);
    // A page whose live socket hears nothing (a dropped connection not yet noticed) still
    // shows the ticket as it was when it loaded: that is the race this test loses.
    await late.routeWebSocket(/\/live$/, () => {});
    await gotoHydrated(late, ticketPath);
    await expect(late.getByRole('button', { name: 'Purchase', exact: true })).toBeVisible();

    const first = await newUser(browser, testInfo, browserErrors);
    await purchase(first, ticketPath);
    await expectBadge(seller, ticketPath, 'Reserved');

    // The late buyer's page still offers the ticket; pressing Purchase fails and refreshes it.
    await expect(late.locator('.ticket-details .badge')).toHaveText('For sale');
    await late.getByRole('button', { name: 'Purchase', exact: true }).click();
    await expect(late.locator('.form-error')).toContainText('Ticket is already reserved');
    await expect(late.locator('.ticket-details .badge')).toHaveText('Reserved');
    await expect(late.getByRole('button', { name: 'Purchase', exact: true })).toHaveCount(0);
    await expect(late).toHaveURL(pathIs(ticketPath));
    for (const page of [seller, late, first]) await page.context().close();
  });

  for (const js of [true, false]) {
    test(`signing in to buy comes back to the ticket (JavaScript ${js ? 'on' : 'off'})`, async ({
      browser,
      browserErrors,
    }, testInfo) => {
      test.setTimeout(90_000);
      const seller = await newUser(browser, testInfo, browserErrors);
      const ticketPath = await listTicket(seller, uniqueTitle(), '9');
      await seller.context().close();
      const email = uniqueEmail();
      {
        // An account made elsewhere, to sign in with.
        const { context, page } = await visitorPage(browser, testInfo, browserErrors, true);
        await signUp(page, email);
        await context.close();
      }

      const { context, page } = await visitorPage(browser, testInfo, browserErrors, js);
      await open(page, ticketPath, js);
      await page.getByRole('link', { name: 'Sign in to buy', exact: true }).click();
      await expect(page).toHaveURL(/\/auth\/signin\?next=/);
      await page.locator('input[name="email"]').fill(email);
      await page.locator('input[name="password"]').fill('wrong password');
      await page.getByRole('button', { name: 'Sign in', exact: true }).click();
      // A failed attempt keeps where to go next.
      await expect(page.locator('.form-error, .field-error').first()).toBeVisible();
      await page.locator('input[name="email"]').fill(email);
      await page.locator('input[name="password"]').fill(PASSWORD);
      await page.getByRole('button', { name: 'Sign in', exact: true }).click();
      await expect(page).toHaveURL(pathIs(ticketPath));
      await expectSignedIn(page, email);
      await expect(page.getByRole('button', { name: 'Purchase', exact: true })).toBeVisible();
      await context.close();

      // Signing up from the same prompt comes back too.
      const fresh = await visitorPage(browser, testInfo, browserErrors, js);
      await open(fresh.page, ticketPath, js);
      await fresh.page.getByRole('link', { name: 'Sign in to buy', exact: true }).click();
      await fresh.page.getByRole('link', { name: 'Create an account', exact: true }).click();
      await expect(fresh.page).toHaveURL(/\/auth\/signup\?next=/);
      const other = uniqueEmail();
      await fresh.page.locator('input[name="email"]').fill(other);
      await fresh.page.locator('input[name="password"]').fill(PASSWORD);
      await fresh.page.getByRole('button', { name: 'Sign up', exact: true }).click();
      await expect(fresh.page).toHaveURL(pathIs(ticketPath));
      await expectSignedIn(fresh.page, other);
      await fresh.context.close();
    });
  }

  test('a return path to another site is ignored', async ({ browser, browserErrors }, testInfo) => {
    test.setTimeout(90_000);
    const email = uniqueEmail();
    {
      const { context, page } = await visitorPage(browser, testInfo, browserErrors, true);
      await signUp(page, email);
      await context.close();
    }
    // Every form of it is refused on the server too (see the server's tests).
    const attempts: [string, boolean][] = [
      ['https://evil.example/', true],
      ['//evil.example/x', false],
      ['/\\evil.example', true],
      ['javascript:alert(1)', false],
    ];
    for (const [next, js] of attempts) {
      const { context, page } = await visitorPage(browser, testInfo, browserErrors, js);
      await open(page, `/auth/signin?next=${encodeURIComponent(next)}`, js);
      await expect(page.locator('input[name="next"]')).toHaveCount(0);
      await page.locator('input[name="email"]').fill(email);
      await page.locator('input[name="password"]').fill(PASSWORD);
      await page.getByRole('button', { name: 'Sign in', exact: true }).click();
      await expect(page).toHaveURL(pathIs('/'));
      await expectSignedIn(page, email);
      await context.close();
    }
  });

  test('the reservation window the pages state is the one configured', async ({
    browser,
    browserErrors,
  }, testInfo) => {
    test.skip(!SHORT_WINDOW_URL, 'needs SHORT_WINDOW_URL: a server with a short EXPIRATION_WINDOW_SECONDS');
    for (const js of [true, false]) {
      const { context, page } = await visitorPage(browser, testInfo, browserErrors, js, SHORT_WINDOW_URL);
      await open(page, '/', js);
      await expect(page.locator('.features')).toContainText('reserves the ticket for 6 seconds.');
      await open(page, '/how-it-works', js);
      await expect(page.locator('ol.steps')).toContainText('holds the ticket for you for 6 seconds;');
      await expect(page.getByText('15 minutes')).toHaveCount(0);
      await context.close();
    }
    const { context, page } = await visitorPage(browser, testInfo, browserErrors, true);
    await open(page, '/how-it-works', true);
    await expect(page.locator('ol.steps')).not.toContainText('6 seconds');
    await context.close();
  });
});

test.describe('forms say what they did', () => {
  for (const js of [true, false]) {
    test(`a search keeps its words and a clean address (JavaScript ${js ? 'on' : 'off'})`, async ({
      browser,
      browserErrors,
    }, testInfo) => {
      const { context, page } = await visitorPage(browser, testInfo, browserErrors, js);
      await open(page, '/', js);
      await page.locator('input[name="q"]').fill('gala <b>&');
      await page.getByRole('button', { name: 'Search', exact: true }).click();
      await expect(page).toHaveURL(/\/\?q=gala(\+|%20)%3Cb%3E%26$/);
      await expect(page.locator('input[name="q"]')).toHaveValue('gala <b>&');
      // Straight to a results page, too.
      await open(page, '/?q=jazz', js);
      await expect(page.locator('input[name="q"]')).toHaveValue('jazz');
      await context.close();
    });

    test(`a title of 120 characters is kept whole, emoji included (JavaScript ${js ? 'on' : 'off'})`, async ({
      browser,
      browserErrors,
    }, testInfo) => {
      const { context, page } = await visitorPage(browser, testInfo, browserErrors, true);
      await signUp(page, uniqueEmail());
      const cookies = await context.storageState();
      await context.close();
      const seller = await browser.newContext({
        javaScriptEnabled: js,
        baseURL: testInfo.project.use.baseURL,
        storageState: cookies,
      });
      const sell = await seller.newPage();
      browserErrors.watch(sell);
      await open(sell, '/tickets/new', js);
      // Under 120 characters as the server counts them, over 120 UTF-16 units (a maxlength).
      const title = `${TICKET_EMOJI.repeat(70)}${uniqueTitle()}`;
      expect([...title].length).toBeLessThanOrEqual(120);
      const field = sell.locator('input[name="title"]');
      await field.click();
      await sell.keyboard.insertText(title);
      await expect(field).toHaveValue(title);
      await sell.locator('input[name="price"]').fill('5');
      await sell.getByRole('button', { name: 'List ticket', exact: true }).click();
      await expect(sell).toHaveURL(/\/tickets\/[^/?#]+$/);
      await expect(h1(sell)).toHaveText(title);

      // One more is the server's to refuse, with its message.
      await open(sell, '/tickets/new', js);
      await sell.locator('input[name="title"]').click();
      await sell.keyboard.insertText(TICKET_EMOJI.repeat(121));
      await sell.locator('input[name="price"]').fill('5');
      await sell.getByRole('button', { name: 'List ticket', exact: true }).click();
      await expect(sell.locator('.field-error[data-field="title"]')).toHaveText(
        'Title must be at most 120 characters',
      );
      await seller.close();
    });
  }
});
