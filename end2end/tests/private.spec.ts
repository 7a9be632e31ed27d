import {
  PASSWORD,
  expect,
  expectSignedIn,
  expectSignedOut,
  nav,
  pathIs,
  submitAuthForm,
  test,
  uniqueEmail,
} from './fixtures';

test.describe('private pages stay private', () => {
  test('after signing out, Back fetches /orders again instead of showing the previous user', async ({
    browser,
    browserErrors,
  }, testInfo) => {
    // JavaScript off: every page is a full load the browser may keep in its caches.
    const context = await browser.newContext({
      javaScriptEnabled: false,
      baseURL: testInfo.project.use.baseURL,
    });
    const page = await context.newPage();
    browserErrors.watch(page);
    const email = uniqueEmail();

    await submitAuthForm(page, 'signup', email, PASSWORD, false);
    await expect(page).toHaveURL(pathIs('/'));
    const orders = await page.goto('/orders');
    expect(orders?.headers()['cache-control']).toBe('no-store');
    await expectSignedIn(page, email);

    await nav(page).getByRole('button', { name: 'Sign out', exact: true }).click();
    await expect(page).not.toHaveURL(pathIs('/orders'));
    await expectSignedOut(page);

    // Back: the browser must ask the server again (it kept no copy), which no longer knows
    // this visitor.
    await page.goBack();
    await expect(page).toHaveURL(pathIs('/orders'));
    await expect(page.getByText(email)).toHaveCount(0);
    await expectSignedOut(page);
    await context.close();
  });
});
