import { type Locator, type Page } from '@playwright/test';
import {
  expect,
  gotoHydrated,
  listTicket,
  newUser,
  purchase,
  signUp,
  test,
  uniqueEmail,
  uniqueTitle,
} from './fixtures';

const PHONE = { width: 390, height: 844 };

/**
 * `element` shows whole within the phone's width: visible, its box inside 0..390, and not cut
 * off by an ancestor that clips or scrolls sideways.
 */
async function expectOnScreen(element: Locator, what: string): Promise<void> {
  await expect(element, what).toBeVisible();
  const box = await element.boundingBox();
  expect(box, what).not.toBeNull();
  expect(box!.x, `${what}: left edge`).toBeGreaterThanOrEqual(0);
  expect(box!.x + box!.width, `${what}: right edge`).toBeLessThanOrEqual(PHONE.width);
  const clippedBy = await element.evaluate((el) => {
    const r = el.getBoundingClientRect();
    for (let a = el.parentElement; a; a = a.parentElement) {
      if (getComputedStyle(a).overflowX === 'visible') continue;
      const c = a.getBoundingClientRect();
      if (r.left < c.left - 0.5 || r.right > c.right + 0.5 || a.scrollWidth > a.clientWidth + 1) {
        return `${a.tagName.toLowerCase()}.${a.className}`;
      }
    }
    return null;
  });
  expect(clippedBy, `${what}: clipped or scrolled sideways by`).toBeNull();
}

/** Every column of every order shows on the phone, and the page never scrolls sideways. */
async function expectEveryColumnShows(page: Page, titles: string[]): Promise<void> {
  for (const title of titles) {
    const row = page.locator('.orders-table tbody tr').filter({ hasText: title });
    await expectOnScreen(row.getByRole('link', { name: title }), `${title}: title`);
    await expectOnScreen(row.getByText(/^\$\d+\.\d\d$/), `${title}: price`);
    await expectOnScreen(row.locator('.status'), `${title}: status`);
    await expectOnScreen(row.locator('.receipt-cell > *').first(), `${title}: receipt`);
  }
  const paid = page.locator('.orders-table tbody tr').filter({ hasText: titles[0] });
  await expectOnScreen(paid.locator('.receipt-amount'), 'receipt amount');
  await expectOnScreen(paid.locator('time'), 'receipt time');
  await expectOnScreen(paid.locator('.payment-id'), 'payment id');
  const sideways = await page.evaluate(
    () => document.documentElement.scrollWidth - document.documentElement.clientWidth,
  );
  expect(sideways, 'the page scrolls sideways').toBeLessThanOrEqual(0);
}

test('on a phone, "My orders" shows every column: ticket, price, status and receipt', async ({
  page: seller,
  browser,
  browserErrors,
}, testInfo) => {
  test.setTimeout(120_000);
  // Long titles, as a listing may have: they wrap rather than push the columns away.
  const paidTitle = `${uniqueTitle()} — Philharmonic matinee, balcony row K`;
  const openTitle = `${uniqueTitle()} — Stadium tour, standing`;
  await signUp(seller, uniqueEmail());
  const paidTicket = await listTicket(seller, paidTitle, '1250.00');
  const openTicket = await listTicket(seller, openTitle, '8');

  const buyer = await newUser(browser, testInfo, browserErrors);
  await purchase(buyer, paidTicket);
  await buyer.getByRole('button', { name: 'Pay $1250.00', exact: true }).click();
  await expect(buyer.locator('.status.status-complete')).toBeVisible();
  await purchase(buyer, openTicket);

  await buyer.setViewportSize(PHONE);
  await gotoHydrated(buyer, '/orders');
  await expectEveryColumnShows(buyer, [paidTitle, openTitle]);

  // The same page rendered on the server, without JavaScript.
  const noJs = await browser.newContext({
    javaScriptEnabled: false,
    baseURL: testInfo.project.use.baseURL,
    viewport: PHONE,
    storageState: await buyer.context().storageState(),
  });
  try {
    const page = await noJs.newPage();
    browserErrors.watch(page);
    await page.goto('/orders');
    await expect(page.locator('body[data-hydrated="true"]')).toHaveCount(0);
    await expectEveryColumnShows(page, [paidTitle, openTitle]);
  } finally {
    await noJs.close();
  }
  await buyer.context().close();
});
