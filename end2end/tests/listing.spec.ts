import { type Page } from '@playwright/test';
import { expect, gotoHydrated, signUp, test, uniqueEmail } from './fixtures';

/** The landing page shows this many tickets at a time. */
const PAGE = 24;

const cards = (page: Page) => page.locator('ul.ticket-list li.ticket-card');

/** Lists `count` tickets titled `<tag> <n>` with the signed-in user's cookies. */
async function listTickets(page: Page, tag: string, count: number): Promise<void> {
  for (let n = 1; n <= count; n++) {
    const response = await page.request.post('/api/tickets', {
      data: { title: `${tag} ${n}`, price: n },
    });
    expect(response.status()).toBe(201);
  }
}

test.describe('the landing page listing', () => {
  test('searching and paging work with JavaScript, through server functions', async ({ page }) => {
    const tag = `Paged${Date.now()}`;
    await signUp(page, uniqueEmail());
    await listTickets(page, tag, PAGE + 2);

    await gotoHydrated(page, '/');
    const search = page.waitForRequest((r) => new URL(r.url()).pathname === '/_fn/list_tickets');
    await page.locator('input[name="q"]').fill(tag.toLowerCase());
    await page.getByRole('button', { name: 'Search', exact: true }).click();
    await search;
    await expect(page).toHaveURL(new RegExp(`/\\?q=${tag.toLowerCase()}(&|$)`));
    await expect(cards(page)).toHaveCount(PAGE);
    await expect(cards(page).first()).toContainText(`${tag} ${PAGE + 2}`, { useInnerText: true });

    await page.getByRole('link', { name: 'More tickets', exact: true }).click();
    await expect(cards(page)).toHaveCount(2);
    await expect(cards(page).nth(1)).toContainText(`${tag} 1`);
    await expect(page.getByRole('link', { name: 'More tickets', exact: true })).toHaveCount(0);
    await page.getByRole('link', { name: 'Newest', exact: true }).click();
    await expect(cards(page)).toHaveCount(PAGE);
  });

  test('searching and paging work without JavaScript', async ({ browser, browserErrors }, testInfo) => {
    const tag = `Plain${Date.now()}`;
    const context = await browser.newContext({
      javaScriptEnabled: false,
      baseURL: testInfo.project.use.baseURL,
    });
    try {
      const page = await context.newPage();
      browserErrors.watch(page);
      await signUp(page, uniqueEmail(), undefined, false);
      await listTickets(page, tag, PAGE + 1);
      await page.goto('/');
      await page.locator('input[name="q"]').fill(tag);
      await page.getByRole('button', { name: 'Search', exact: true }).click();
      await expect(cards(page)).toHaveCount(PAGE);
      await page.getByRole('link', { name: 'More tickets', exact: true }).click();
      await expect(cards(page)).toHaveCount(1);
      await expect(cards(page)).toContainText(`${tag} 1`);
    } finally {
      await context.close();
    }
  });
});
