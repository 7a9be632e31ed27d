import { expect, test } from './fixtures';

/**
 * The browsable API docs (`/api-docs/`): Swagger UI from the binary, under the docs' own
 * strict policy. Any CSP violation or failed asset is a console error, which the
 * `browserErrors` fixture fails the test on; nothing may be fetched from another origin.
 */
test.describe('API docs', () => {
  test('render every service from the merged document, and try an operation', async ({
    page,
    browserErrors,
    baseURL,
  }) => {
    const site = new URL(baseURL!).origin;
    const foreign: string[] = [];
    page.on('request', (request) => {
      const url = new URL(request.url());
      // `data:` images are drawn inline; anything over the network must be ours.
      if (url.protocol !== 'data:' && url.origin !== site) foreign.push(request.url());
    });
    // "Try it out" below calls the API from the browser, which pages never do.
    browserErrors.allow(/service API request: GET \/api\/tickets$/);

    const response = await page.goto('/api-docs/');
    expect(response?.status()).toBe(200);
    expect(response?.headers()['content-security-policy']).toContain("script-src 'self'");
    for (const tag of ['users', 'tickets', 'orders', 'payments']) {
      await expect(page.locator(`.opblock-tag-section h3[data-tag="${tag}"]`)).toBeVisible();
    }
    await expect(page.locator('.opblock-summary-path[data-path="/api/tickets/{id}/relist"]')).toBeVisible();

    const list = page.locator('#operations-tickets-listTickets');
    await list.locator('.opblock-summary').click();
    // "Try it out" is on from the start (the docs' configuration).
    await list.getByRole('button', { name: 'Execute' }).click();
    await expect(list.locator('.live-responses-table tbody .response-col_status')).toHaveText(
      '200',
    );
    expect(foreign, 'requests to other origins').toEqual([]);
  });
});
