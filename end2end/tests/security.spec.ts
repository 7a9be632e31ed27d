import { type Page } from '@playwright/test';
import { expect, gotoHydrated, h1, signUp, submitAuthForm, test, uniqueEmail } from './fixtures';

/** Text that runs script wherever it reaches a page unescaped. */
const HOSTILE = [
  '<script>alert(1)</script>',
  '</title><img src=x onerror=alert(1)>',
  '"><svg onload=alert(1)>',
];

/** Lists a ticket with the signed-in user's cookies (the request is not the page's own). */
async function listTicket(page: Page, title: string): Promise<string> {
  const response = await page.request.post('/api/tickets', { data: { title, price: 12 } });
  expect(response.status()).toBe(201);
  return (await response.json()).id as string;
}

test.describe('hostile text and the content security policy', () => {
  test('hostile titles are shown as text on every page, and nothing runs', async ({ page }) => {
    await signUp(page, uniqueEmail());
    const ids: string[] = [];
    for (const title of HOSTILE) ids.push(await listTicket(page, `${title} ${Date.now()}`));

    for (const [i, id] of ids.entries()) {
      await gotoHydrated(page, `/tickets/${id}`);
      await expect(h1(page)).toHaveText(new RegExp(`^${escapeRegExp(HOSTILE[i])} \\d+$`));
      expect(await page.title()).toContain(HOSTILE[i]);
      await expect(page.locator('meta[property="og:title"]')).toHaveAttribute(
        'content',
        new RegExp(`^${escapeRegExp(HOSTILE[i])}`),
      );
      await expect(page.locator('img[src="x"], svg[onload], main script')).toHaveCount(0);

      await gotoHydrated(page, `/tickets/${id}/edit`);
      await expect(page.locator('input[name="title"]')).toHaveValue(
        new RegExp(`^${escapeRegExp(HOSTILE[i])}`),
      );
    }
    await gotoHydrated(page, `/?q=${encodeURIComponent('onerror=alert(1)>')}`);
    await expect(page.locator('ul.ticket-list li.ticket-card').first()).toContainText(HOSTILE[1]);
    await expect(page.locator('img[src="x"], svg[onload]')).toHaveCount(0);
    await expect(page.locator('input[name="q"]')).toHaveValue('onerror=alert(1)>');
  });

  test('a hostile but valid email is shown as text in the header', async ({ page }) => {
    const email = `"<svg/onload=alert(1)>${Date.now()}"@example.com`;
    await signUp(page, email);
    await gotoHydrated(page, '/orders');
    await expect(page.getByTestId('user-email')).toHaveText(email);
    await expect(page.locator('svg[onload]')).toHaveCount(0);
  });

  test('a hostile email is refused and shown back as text', async ({ page }) => {
    await submitAuthForm(page, 'signup', HOSTILE[2] + '@example.com', 'secret1');
    await expect(page.locator('.field-error[data-field="email"]')).toHaveText('Email must be valid');
    await expect(page.locator('input[name="email"]')).toHaveValue(HOSTILE[2] + '@example.com');
    await expect(page.locator('svg[onload]')).toHaveCount(0);
  });

  test('every page has a strict policy with its own nonce, and hydrates under it', async ({
    page,
    browserErrors,
  }) => {
    // The browser reports the unknown page's 404 status as a failed load.
    browserErrors.allow(/status of 404 \(Not Found\) \(url: [^)]*\/no\/such\/page\)$/);
    const nonces = new Set<string>();
    for (const path of ['/', '/how-it-works', '/auth/signin', '/', '/no/such/page']) {
      const response = await page.goto(path);
      const policy = response?.headers()['content-security-policy'] ?? '';
      expect(policy).toContain("'wasm-unsafe-eval'");
      expect(policy).toContain("object-src 'none'");
      expect(policy).toContain("base-uri 'none'");
      expect(policy).toContain("frame-ancestors 'none'");
      expect(policy).not.toContain('unsafe-inline');
      expect(response?.headers()['x-content-type-options']).toBe('nosniff');
      expect(response?.headers()['referrer-policy']).toBe('strict-origin-when-cross-origin');
      nonces.add(/'nonce-([^']+)'/.exec(policy)?.[1] ?? '');
      await page.waitForSelector('body[data-hydrated="true"]', { state: 'attached' });
    }
    expect(nonces.size).toBe(5);
    // Markup that got in anyway can't run: inline handlers are refused (and reported).
    browserErrors.allow(/Content Security Policy/);
    const ran = await page.evaluate(async () => {
      document.body.insertAdjacentHTML(
        'beforeend',
        '<img src="/favicon.svg" onload="window.__injected = true">',
      );
      await new Promise((r) => setTimeout(r, 300));
      return (window as unknown as { __injected?: boolean }).__injected === true;
    });
    expect(ran).toBe(false);
  });
});

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
