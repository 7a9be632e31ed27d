import { type Browser, type Page, type TestInfo } from '@playwright/test';
import {
  PASSWORD,
  type BrowserErrors,
  expect,
  expectSignedIn,
  expectSignedOut,
  h1,
  nav,
  pathIs,
  submitAuthForm,
  test,
  uniqueEmail,
} from './fixtures';

/** A browser with JavaScript off: every form is a plain POST, answered with a redirect. */
async function noJsPage(
  browser: Browser,
  testInfo: TestInfo,
  browserErrors: BrowserErrors,
): Promise<Page> {
  const context = await browser.newContext({
    javaScriptEnabled: false,
    baseURL: testInfo.project.use.baseURL,
  });
  const page = await context.newPage();
  browserErrors.watch(page);
  return page;
}

test.describe('without JavaScript', () => {
  test('sign up, sell, buy, cancel and sign out, with the field errors', async ({
    browser,
    browserErrors,
  }, testInfo) => {
    test.setTimeout(90_000);
    const seller = await noJsPage(browser, testInfo, browserErrors);
    const email = uniqueEmail();

    // Field errors come back from the server, the email kept, the password never in the URL.
    await submitAuthForm(seller, 'signup', 'not-an-email', 'x', false);
    await expect(seller).toHaveURL(pathIs('/auth/signup'));
    expect(seller.url()).not.toContain('password');
    await expect(seller.locator('.field-error[data-field="email"]')).toHaveText('Email must be valid');
    await expect(seller.locator('.field-error[data-field="password"]')).toBeVisible();
    await expect(seller.locator('input[name="email"]')).toHaveValue('not-an-email');
    await expect(seller.locator('input[name="password"]')).toHaveValue('');

    await submitAuthForm(seller, 'signup', email, PASSWORD, false);
    await expect(seller).toHaveURL(pathIs('/'));
    await expectSignedIn(seller, email);
    await expect(seller.locator('body[data-hydrated="true"]')).toHaveCount(0);

    // Sell: errors first, then a listing.
    await nav(seller).getByRole('link', { name: 'Sell a ticket', exact: true }).click();
    await expect(seller).toHaveURL(pathIs('/tickets/new'));
    await seller.locator('input[name="title"]').fill('No-JS gala');
    await seller.getByRole('button', { name: 'List ticket', exact: true }).click();
    await expect(seller).toHaveURL(pathIs('/tickets/new'));
    await expect(seller.locator('.field-error[data-field="price"]')).toHaveText(
      'Price must be greater than 0',
    );
    await expect(seller.locator('input[name="title"]')).toHaveValue('No-JS gala');
    await seller.locator('input[name="price"]').fill('33.10');
    await seller.getByRole('button', { name: 'List ticket', exact: true }).click();
    await expect(seller).toHaveURL(/\/tickets\/[^/?#]+$/);
    const ticketPath = new URL(seller.url()).pathname;
    await expect(h1(seller)).toHaveText('No-JS gala');
    await expect(seller.locator('.ticket-price')).toHaveText('$33.10');

    // Edit it.
    await seller.getByRole('link', { name: 'Edit', exact: true }).click();
    await seller.locator('input[name="title"]').fill('No-JS gala night');
    await seller.getByRole('button', { name: 'Save changes', exact: true }).click();
    await expect(seller).toHaveURL(pathIs(ticketPath));
    await expect(h1(seller)).toHaveText('No-JS gala night');

    // A buyer finds it with the search box and buys it.
    const buyer = await noJsPage(browser, testInfo, browserErrors);
    await submitAuthForm(buyer, 'signup', uniqueEmail(), PASSWORD, false);
    await expect(buyer).toHaveURL(pathIs('/'));
    await buyer.locator('input[name="q"]').fill('no-js gala NIGHT');
    await buyer.getByRole('button', { name: 'Search', exact: true }).click();
    await expect(buyer).toHaveURL(/\/\?q=no-js\+gala\+NIGHT$/);
    await buyer.getByRole('link', { name: 'No-JS gala night' }).click();
    await expect(buyer).toHaveURL(pathIs(ticketPath));
    await expect(async () => {
      await buyer.goto(ticketPath);
      await buyer.getByRole('button', { name: 'Purchase', exact: true }).click();
      await expect(buyer).toHaveURL(/\/orders\/[^/?#]+$/, { timeout: 2_000 });
    }).toPass({ timeout: 15_000 });
    const orderPath = new URL(buyer.url()).pathname;
    await expect(h1(buyer)).toHaveText('Your order');
    await expect(buyer.locator('.status.status-created')).toBeVisible();
    await expect(buyer.locator('.countdown')).toHaveText(/^\d+:\d\d$/);

    await buyer.getByRole('button', { name: 'Cancel order', exact: true }).click();
    await expect(buyer).toHaveURL(pathIs(orderPath));
    await expect(buyer.locator('.status.status-cancelled')).toHaveText('Cancelled');

    // Sign out is a POST too.
    await nav(buyer).getByRole('button', { name: 'Sign out', exact: true }).click();
    await expect(buyer).toHaveURL(pathIs('/'));
    await expectSignedOut(buyer);

    // A wrong password: the reason, on the sign-in page.
    await submitAuthForm(seller, 'signin', email, 'wrong-password', false);
    await expect(seller).toHaveURL(pathIs('/auth/signin'));
    await expect(seller.locator('.form-error')).toContainText('Invalid credentials');
    await expect(seller.locator('input[name="email"]')).toHaveValue(email);

    await seller.context().close();
    await buyer.context().close();
  });
});
