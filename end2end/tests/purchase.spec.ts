import { type Browser, type Page, type TestInfo } from '@playwright/test';
import {
  type BrowserErrors,
  EVENTUALLY,
  PASSWORD,
  expect,
  gotoHydrated,
  h1,
  listTicket,
  nav,
  newUser,
  pathIs,
  purchase,
  submitAuthForm,
  test,
  ticketCard,
  uniqueEmail,
  uniqueTitle,
} from './fixtures';

const GOOD_CARD = 'Visa •••• 4242 — succeeds';
const DECLINED_CARD = 'Visa •••• 0002 — declined';

/** A server whose reservations last a few seconds (`cargo xtask test` starts one). */
const SHORT_WINDOW_URL = process.env.SHORT_WINDOW_URL;

/** A seller lists a ticket at `price` and a new buyer reserves it: the buyer and the order. */
async function reservedOrder(
  browser: Browser,
  testInfo: TestInfo,
  browserErrors: BrowserErrors,
  title: string,
  price: string,
  baseURL?: string,
): Promise<{ buyer: Page; orderPath: string; ticketPath: string }> {
  const seller = await newUser(browser, testInfo, browserErrors, baseURL);
  const ticketPath = await listTicket(seller, title, price);
  await seller.context().close();
  const buyer = await newUser(browser, testInfo, browserErrors, baseURL);
  const orderPath = await purchase(buyer, ticketPath);
  await expect(h1(buyer)).toHaveText('Your order');
  return { buyer, orderPath, ticketPath };
}

/** The order page of a paid order: complete, its receipt, and no form to pay again. */
async function expectPaid(page: Page, price: string): Promise<string> {
  await expect(page.locator('.status.status-complete')).toHaveText('Complete');
  await expect(page.getByRole('status')).toContainText('Paid. The ticket is yours.');
  const receipt = page.getByRole('region', { name: 'Receipt' });
  await expect(receipt.locator('.receipt-amount')).toHaveText(`${price} USD`);
  await expect(receipt.locator('time')).toHaveText(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$/);
  const paymentId = (await receipt.locator('.payment-id').textContent())?.trim() ?? '';
  expect(paymentId).not.toEqual('');
  await expect(page.getByRole('button', { name: /^Pay / })).toHaveCount(0);
  await expect(page.getByRole('button', { name: 'Cancel order', exact: true })).toHaveCount(0);
  await expect(page.locator('.countdown')).toHaveCount(0);
  return paymentId;
}

test.describe('paying for an order', () => {
  test('a buyer pays with the test card and the order completes, with its receipt', async ({
    browser,
    browserErrors,
  }, testInfo) => {
    test.setTimeout(120_000);
    const title = uniqueTitle();
    const { buyer, orderPath } = await reservedOrder(
      browser,
      testInfo,
      browserErrors,
      title,
      '20.50',
    );
    await expect(buyer.locator('.status.status-created')).toBeVisible();
    await expect(buyer.locator('.countdown')).toHaveText(/^1[45]:\d\d$/);
    await expect(buyer.getByRole('radio', { name: GOOD_CARD })).toBeChecked();
    await expect(buyer.getByRole('radio', { name: DECLINED_CARD })).not.toBeChecked();

    await buyer.getByRole('button', { name: 'Pay $20.50', exact: true }).click();
    await expect(buyer).toHaveURL(pathIs(orderPath));
    const paymentId = await expectPaid(buyer, '$20.50');

    // The same after a reload, rendered on the server.
    await gotoHydrated(buyer, orderPath);
    expect(await expectPaid(buyer, '$20.50')).toEqual(paymentId);

    // "My orders" shows it complete, with the receipt.
    await nav(buyer).getByRole('link', { name: 'My orders', exact: true }).click();
    await expect(buyer).toHaveURL(pathIs('/orders'));
    const row = buyer.locator('table.table tbody tr').filter({ hasText: title });
    await expect(row.locator('.status')).toHaveText('Complete');
    await expect(row.locator('.receipt-amount')).toHaveText('$20.50 USD');
    await expect(row.locator('.payment-id')).toHaveText(paymentId);
    await buyer.context().close();
  });

  test('a declined card shows the message, and the buyer tries again and pays', async ({
    browser,
    browserErrors,
  }, testInfo) => {
    test.setTimeout(120_000);
    const { buyer, orderPath } = await reservedOrder(
      browser,
      testInfo,
      browserErrors,
      uniqueTitle(),
      '12',
    );
    await buyer.getByRole('radio', { name: DECLINED_CARD }).check();
    await buyer.getByRole('button', { name: 'Pay $12.00', exact: true }).click();
    await expect(buyer.getByRole('alert')).toHaveText('Your card was declined.');
    // Still open: the countdown runs, the chosen card stays chosen, and nothing was paid.
    await expect(buyer.locator('.status.status-created')).toBeVisible();
    await expect(buyer.getByRole('radio', { name: DECLINED_CARD })).toBeChecked();
    const shown = (await buyer.locator('.countdown').textContent()) ?? '';
    await expect(buyer.locator('.countdown')).not.toHaveText(shown, { timeout: 5_000 });

    await buyer.getByRole('radio', { name: GOOD_CARD }).check();
    await buyer.getByRole('button', { name: 'Pay $12.00', exact: true }).click();
    await expect(buyer).toHaveURL(pathIs(orderPath));
    await expectPaid(buyer, '$12.00');
    await expect(buyer.getByRole('alert')).toHaveCount(0);
    await buyer.context().close();
  });

  test('without JavaScript the payment form posts, a decline comes back, and paying works', async ({
    browser,
    browserErrors,
  }, testInfo) => {
    test.setTimeout(120_000);
    const seller = await newUser(browser, testInfo, browserErrors);
    const ticketPath = await listTicket(seller, uniqueTitle(), '7.25');
    await seller.context().close();

    const context = await browser.newContext({
      javaScriptEnabled: false,
      baseURL: testInfo.project.use.baseURL,
    });
    const buyer = await context.newPage();
    browserErrors.watch(buyer);
    await submitAuthForm(buyer, 'signup', uniqueEmail(), PASSWORD, false);
    await expect(buyer).toHaveURL(pathIs('/'));
    const orderPath = await purchase(buyer, ticketPath, false);
    await expect(buyer.locator('body[data-hydrated="true"]')).toHaveCount(0);
    await expect(buyer.locator('.countdown')).toHaveText(/^\d+:\d\d$/);

    await buyer.getByRole('radio', { name: DECLINED_CARD }).check();
    await buyer.getByRole('button', { name: 'Pay $7.25', exact: true }).click();
    await expect(buyer).toHaveURL(pathIs(orderPath));
    await expect(buyer.getByRole('alert')).toHaveText('Your card was declined.');
    await expect(buyer.getByRole('radio', { name: DECLINED_CARD })).toBeChecked();

    await buyer.getByRole('radio', { name: GOOD_CARD }).check();
    await buyer.getByRole('button', { name: 'Pay $7.25', exact: true }).click();
    await expect(buyer).toHaveURL(pathIs(orderPath));
    await expectPaid(buyer, '$7.25');
    await context.close();
  });

  test('with a short window the countdown reaches zero and the ticket is for sale again', async ({
    browser,
    browserErrors,
  }, testInfo) => {
    test.skip(!SHORT_WINDOW_URL, 'needs SHORT_WINDOW_URL: a server with a short EXPIRATION_WINDOW_SECONDS');
    test.setTimeout(90_000);
    const title = uniqueTitle();
    const { buyer } = await reservedOrder(
      browser,
      testInfo,
      browserErrors,
      title,
      '30',
      SHORT_WINDOW_URL,
    );
    const countdown = buyer.locator('.countdown');
    await expect(countdown).toHaveText(/^0:0\d$/);
    await expect(buyer.getByRole('button', { name: 'Pay $30.00', exact: true })).toBeVisible();

    // It ticks down to zero in the browser, and the form gives way to the expired message.
    const shown = (await countdown.textContent()) ?? '';
    await expect(countdown).not.toHaveText(shown, { timeout: 5_000 });
    await expect(countdown).toHaveText('Order expired', { timeout: 10_000 });
    const expired = buyer.locator('.order-expired');
    await expect(expired).toContainText('This order expired');
    await expect(buyer.getByRole('button', { name: 'Pay $30.00', exact: true })).toHaveCount(0);
    await expect(buyer.getByRole('button', { name: 'Cancel order', exact: true })).toHaveCount(0);
    // The order reloads and shows what the expiration service did.
    await expect(buyer.locator('.status.status-cancelled')).toBeVisible({ timeout: 10_000 });
    await expect(expired).toBeVisible();

    // The ticket is back in the listing.
    await expired.getByRole('link', { name: 'Back to the listing', exact: true }).click();
    await expect(buyer).toHaveURL(pathIs('/'));
    await expect(async () => {
      await gotoHydrated(buyer, `/?q=${encodeURIComponent(title)}`);
      await expect(ticketCard(buyer, title)).toBeVisible({ timeout: 1_000 });
    }).toPass(EVENTUALLY);
    await buyer.context().close();
  });
});
