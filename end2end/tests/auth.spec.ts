import {
  PASSWORD,
  expect,
  expectSignedIn,
  expectSignedOut,
  h1,
  header,
  nav,
  pathIs,
  signIn,
  signUp,
  submitAuthForm,
  test,
  uniqueEmail,
  userEmail,
  waitForHydration,
} from './fixtures';

test.describe('authentication', () => {
  test('sign up shows the email in the header, also server-rendered without JavaScript', async ({
    page,
    browser,
    browserErrors,
  }, testInfo) => {
    const email = uniqueEmail();
    await signUp(page, email);

    // The session survives a full reload (hydrated again).
    await page.reload();
    await waitForHydration(page);
    await expectSignedIn(page, email);

    // Same cookies, JavaScript disabled: only server-side rendering can show the email.
    const noJs = await browser.newContext({
      javaScriptEnabled: false,
      baseURL: testInfo.project.use.baseURL,
      storageState: await page.context().storageState(),
    });
    try {
      const ssrPage = await noJs.newPage();
      browserErrors.watch(ssrPage);
      await ssrPage.goto('/');
      await expect(userEmail(ssrPage)).toHaveText(email);
      await expect(nav(ssrPage).getByRole('button', { name: 'Sign out', exact: true })).toBeVisible();
      // Proves JavaScript really was off: the hydration marker is never set.
      await expect(ssrPage.locator('body[data-hydrated="true"]')).toHaveCount(0);
    } finally {
      await noJs.close();
    }
  });

  test('sign out shows the visitor links again', async ({ page }) => {
    const email = uniqueEmail();
    await signUp(page, email);

    await nav(page).getByRole('button', { name: 'Sign out', exact: true }).click();
    await expect(page).toHaveURL(pathIs('/'));
    await expectSignedOut(page);
    await expect(header(page)).not.toContainText(email);

    // The session is gone on the server too.
    await page.reload();
    await waitForHydration(page);
    await expectSignedOut(page);
    await expect(header(page)).not.toContainText(email);
  });

  test('sign in with a wrong password shows "Invalid credentials"', async ({ page }) => {
    const email = uniqueEmail();
    await signUp(page, email);
    await page.context().clearCookies();

    await submitAuthForm(page, 'signin', email, 'wrong-password');

    await expect(page.locator('.form-error')).toContainText('Invalid credentials');
    await expect(page).toHaveURL(pathIs('/auth/signin'));
    await expect(h1(page)).toHaveText('Sign in');
    await expect(userEmail(page)).toHaveCount(0);
  });

  test('sign up with an invalid email shows a field error', async ({ page }) => {
    await submitAuthForm(page, 'signup', 'not-an-email', PASSWORD);

    await expect(page.locator('.field-error[data-field="email"]')).toHaveText('Email must be valid');
    await expect(page).toHaveURL(pathIs('/auth/signup'));
    await expect(h1(page)).toHaveText('Sign up');
    await expect(userEmail(page)).toHaveCount(0);
  });

  test('signed-in navigation happens client-side, without full page loads', async ({ page }) => {
    const email = uniqueEmail();
    await signUp(page, email);
    await page.context().clearCookies();

    await signIn(page, email);

    // A full page load would wipe this marker; hydrated (router) navigation keeps it.
    await page.evaluate(() => {
      (window as unknown as { __noReload?: string }).__noReload = 'yes';
    });
    const marker = () =>
      page.evaluate(() => (window as unknown as { __noReload?: string }).__noReload ?? null);

    await nav(page).getByRole('link', { name: 'How it works', exact: true }).click();
    await expect(page).toHaveURL(pathIs('/how-it-works'));
    await expect(h1(page)).toHaveText('How it works');
    await expectSignedIn(page, email);
    expect(await marker(), 'navigating to /how-it-works reloaded the page').toBe('yes');

    await header(page).locator('a.brand').click();
    await expect(page).toHaveURL(pathIs('/'));
    await expect(h1(page)).toBeVisible();
    await expectSignedIn(page, email);
    expect(await marker(), 'navigating back to / reloaded the page').toBe('yes');
  });
});
