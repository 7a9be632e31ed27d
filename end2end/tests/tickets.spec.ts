import {
  EVENTUALLY,
  expect,
  gotoHydrated,
  h1,
  listTicket,
  nav,
  newUser,
  pathIs,
  purchase,
  signUp,
  test,
  ticketCard,
  uniqueEmail,
  uniqueTitle,
} from './fixtures';

test.describe('tickets and orders', () => {
  test('a buyer reserves a listed ticket, and cancelling puts it back on sale', async ({
    page: seller,
    browser,
    browserErrors,
  }, testInfo) => {
    test.setTimeout(120_000);
    const title = uniqueTitle();

    await signUp(seller, uniqueEmail());
    const ticketPath = await listTicket(seller, title, '20.50');
    await expect(seller.locator('.ticket-price')).toHaveText('$20.50');
    await expect(seller.locator('.badge.for-sale')).toBeVisible();
    await expect(seller.getByRole('link', { name: 'Edit', exact: true })).toBeVisible();
    await expect(seller.getByRole('button', { name: 'Purchase', exact: true })).toHaveCount(0);

    // The buyer finds it on the landing page.
    const buyer = await newUser(browser, testInfo, browserErrors);
    await expect(async () => {
      await gotoHydrated(buyer, `/?q=${encodeURIComponent(title)}`);
      await expect(ticketCard(buyer, title)).toBeVisible({ timeout: 1_000 });
    }).toPass(EVENTUALLY);
    await expect(ticketCard(buyer, title).locator('.ticket-price')).toHaveText('$20.50');
    await ticketCard(buyer, title).getByRole('link', { name: title }).click();
    await expect(buyer).toHaveURL(pathIs(ticketPath));
    await expect(h1(buyer)).toHaveText(title);
    await expect(buyer.getByRole('link', { name: 'Edit', exact: true })).toHaveCount(0);

    // Purchase; the orders service may not have heard of the ticket yet, so this retries.
    const orderPath = await purchase(buyer, ticketPath);
    await expect(h1(buyer)).toHaveText('Your order');
    await expect(buyer.locator('.order-details')).toContainText(title);
    await expect(buyer.locator('.status.status-created')).toBeVisible();
    await expect(buyer.getByRole('button', { name: 'Pay $20.50', exact: true })).toBeVisible();

    // The countdown shows minutes:seconds and ticks after hydration.
    const countdown = buyer.locator('.countdown');
    await expect(countdown).toHaveText(/^\d+:\d\d$/);
    const shown = (await countdown.textContent()) ?? '';
    await expect(countdown).not.toHaveText(shown, { timeout: 5_000 });

    // Also rendered on the server, without JavaScript.
    const noJs = await browser.newContext({
      javaScriptEnabled: false,
      baseURL: testInfo.project.use.baseURL,
      storageState: await buyer.context().storageState(),
    });
    try {
      const ssr = await noJs.newPage();
      browserErrors.watch(ssr);
      await ssr.goto(orderPath);
      await expect(ssr.locator('.countdown')).toHaveText(/^\d+:\d\d$/);
      await expect(ssr.getByRole('button', { name: 'Cancel order', exact: true })).toBeVisible();
    } finally {
      await noJs.close();
    }

    // The ticket is now reserved: no purchase for anyone, no editing for the seller.
    await expect(async () => {
      await gotoHydrated(buyer, ticketPath);
      await expect(buyer.locator('.badge.reserved')).toHaveText('Reserved', { timeout: 1_000 });
    }).toPass(EVENTUALLY);
    await expect(buyer.getByRole('button', { name: 'Purchase', exact: true })).toHaveCount(0);

    await gotoHydrated(seller, ticketPath);
    await expect(seller.locator('.badge.reserved')).toHaveText('Reserved');
    await expect(seller.getByRole('link', { name: 'Edit', exact: true })).toHaveCount(0);
    await gotoHydrated(seller, `${ticketPath}/edit`);
    await expect(seller.getByText('Cannot edit a reserved ticket')).toBeVisible();
    await expect(seller.locator('input[name="title"]')).toHaveCount(0);
    await gotoHydrated(seller, `/?q=${encodeURIComponent(title)}`);
    await expect(seller.locator('.ticket-list, .empty-state').first()).toBeVisible();
    await expect(ticketCard(seller, title)).toHaveCount(0);

    // The buyer finds the order in "My orders" and cancels it.
    await nav(buyer).getByRole('link', { name: 'My orders', exact: true }).click();
    await expect(buyer).toHaveURL(pathIs('/orders'));
    const row = buyer.locator('table.table tbody tr').filter({ hasText: title });
    await expect(row.locator('.status')).toHaveClass(/\bstatus-created\b/);
    await expect(row).toContainText('$20.50');
    await row.getByRole('link', { name: title }).click();
    await expect(buyer).toHaveURL(pathIs(orderPath));
    await buyer.getByRole('button', { name: 'Cancel order', exact: true }).click();
    await expect(buyer.locator('.status.status-cancelled')).toHaveText('Cancelled');
    await expect(buyer.locator('.countdown')).toHaveCount(0);
    await expect(buyer.getByRole('button', { name: 'Cancel order', exact: true })).toHaveCount(0);

    // Released: back in the landing list and editable again.
    await expect(async () => {
      await gotoHydrated(buyer, `/?q=${encodeURIComponent(title)}`);
      await expect(ticketCard(buyer, title)).toBeVisible({ timeout: 1_000 });
    }).toPass(EVENTUALLY);
    await gotoHydrated(seller, ticketPath);
    await expect(seller.locator('.badge.for-sale')).toBeVisible();
    await expect(seller.getByRole('link', { name: 'Edit', exact: true })).toBeVisible();

    await buyer.context().close();
  });

  test('the seller edits a ticket, and a visitor is asked to sign in to buy it', async ({
    page: seller,
    browser,
    browserErrors,
  }, testInfo) => {
    const title = uniqueTitle();
    await signUp(seller, uniqueEmail());
    const ticketPath = await listTicket(seller, title, '15');
    await expect(seller.locator('.ticket-price')).toHaveText('$15.00');

    await seller.getByRole('link', { name: 'Edit', exact: true }).click();
    await expect(seller).toHaveURL(pathIs(`${ticketPath}/edit`));
    await expect(h1(seller)).toHaveText('Edit ticket');
    await expect(seller.locator('input[name="title"]')).toHaveValue(title);
    await expect(seller.locator('input[name="price"]')).toHaveValue('15.00');

    // Errors come back next to their fields.
    await seller.locator('input[name="price"]').fill('0');
    await seller.getByRole('button', { name: 'Save changes', exact: true }).click();
    await expect(seller.locator('.field-error[data-field="price"]')).toHaveText(
      'Price must be greater than 0',
    );
    await expect(seller).toHaveURL(pathIs(`${ticketPath}/edit`));

    const renamed = `${title} (balcony)`;
    await seller.locator('input[name="title"]').fill(renamed);
    await seller.locator('input[name="price"]').fill('17.25');
    await seller.getByRole('button', { name: 'Save changes', exact: true }).click();
    await expect(seller).toHaveURL(pathIs(ticketPath));
    await expect(h1(seller)).toHaveText(renamed);
    await expect(seller.locator('.ticket-price')).toHaveText('$17.25');

    const visitorContext = await browser.newContext({ baseURL: testInfo.project.use.baseURL });
    try {
      const visitor = await visitorContext.newPage();
      browserErrors.watch(visitor);
      await gotoHydrated(visitor, ticketPath);
      await expect(h1(visitor)).toHaveText(renamed);
      await expect(visitor.getByRole('link', { name: 'Sign in to buy', exact: true })).toBeVisible();
      await expect(visitor.getByRole('button', { name: 'Purchase', exact: true })).toHaveCount(0);
      await expect(visitor.getByRole('link', { name: 'Edit', exact: true })).toHaveCount(0);
      await expect(nav(visitor).getByRole('link', { name: 'Sell a ticket', exact: true })).toHaveCount(0);
    } finally {
      await visitorContext.close();
    }
  });

  test('listing a ticket without a title or price shows field errors', async ({ page }) => {
    await signUp(page, uniqueEmail());
    await gotoHydrated(page, '/tickets/new');
    await page.getByRole('button', { name: 'List ticket', exact: true }).click();
    await expect(page.locator('.field-error[data-field="title"]')).toHaveText('Title is required');
    await expect(page.locator('.field-error[data-field="price"]')).toHaveText(
      'Price must be greater than 0',
    );
    await expect(page).toHaveURL(pathIs('/tickets/new'));
  });
});
