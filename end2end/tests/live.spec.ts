import { type Page, type WebSocketRoute } from '@playwright/test';
import {
  EVENTUALLY,
  expect,
  gotoHydrated,
  h1,
  listTicket,
  newUser,
  pathIs,
  purchase,
  test,
  ticketCard,
  uniqueTitle,
} from './fixtures';

/**
 * Live pages: a hydrated page keeps one WebSocket to `/live` and updates in place when
 * what it shows changes elsewhere. Every assertion here is made on a page that is never
 * reloaded (`expectNotReloaded`), with the default expect timeout: the change must arrive
 * by itself.
 */

/** What the page's sockets have sent, parsed (the `watch` messages). */
type Sent = { type: string; topics?: { topic: string; id?: string }[] };

/** Records every message `page`'s sockets send; register before the page loads. */
function recordSent(page: Page): Sent[] {
  const sent: Sent[] = [];
  page.on('websocket', (ws) => {
    if (!new URL(ws.url()).pathname.endsWith('/live')) return;
    ws.on('framesent', (frame) => {
      if (typeof frame.payload === 'string') sent.push(JSON.parse(frame.payload) as Sent);
    });
  });
  return sent;
}

/** Waits until the page's socket has asked for `topic` (and `id`). */
async function watching(sent: Sent[], topic: string, id?: string): Promise<void> {
  await expect
    .poll(() =>
      sent.some(
        (m) =>
          m.type === 'watch' &&
          (m.topics ?? []).some((t) => t.topic === topic && (id === undefined || t.id === id)),
      ),
    )
    .toBe(true);
}

/** Marks the document so a later check can tell it was never reloaded. */
async function markDocument(page: Page): Promise<void> {
  await page.evaluate(() => {
    (window as unknown as { liveTest?: boolean }).liveTest = true;
  });
}

async function expectNotReloaded(page: Page): Promise<void> {
  expect(
    await page.evaluate(() => (window as unknown as { liveTest?: boolean }).liveTest === true),
    'the page was updated in place, not reloaded',
  ).toBe(true);
}

/** The ticket id at the end of a ticket page's path. */
const idOf = (ticketPath: string): string => ticketPath.split('/').pop() ?? '';

/** Opens `path` in a new tab of `page`'s context, hydrated and marked. */
async function openTab(page: Page, path: string): Promise<{ tab: Page; sent: Sent[] }> {
  const tab = await page.context().newPage();
  const sent = recordSent(tab);
  await gotoHydrated(tab, path);
  await markDocument(tab);
  return { tab, sent };
}

test.describe('live pages', () => {
  test('a reservation leaves other viewers’ listing and ticket page, a cancellation brings it back, and new listings and edits show', async ({
    browser,
    browserErrors,
  }, testInfo) => {
    test.setTimeout(120_000);
    const tag = uniqueTitle();
    const title = `${tag} stalls`;
    // A sells a ticket, then watches the search for this test's tickets and the ticket's page.
    const seller = await newUser(browser, testInfo, browserErrors);
    const ticketPath = await listTicket(seller, title, '25');
    const buyer = await newUser(browser, testInfo, browserErrors);

    const { tab: listing, sent: listingSent } = await openTab(
      seller,
      `/?q=${encodeURIComponent(tag)}`,
    );
    browserErrors.watch(listing);
    // The listing is served by tickets; the order page needs orders' replica: wait until it is
    // on sale as far as the listing goes, then let the socket settle before anything changes.
    await expect(async () => {
      await gotoHydrated(listing, `/?q=${encodeURIComponent(tag)}`);
      await expect(ticketCard(listing, title)).toBeVisible({ timeout: 1_000 });
    }).toPass(EVENTUALLY);
    await markDocument(listing);
    await watching(listingSent, 'listing');
    const { tab: ticket, sent: ticketSent } = await openTab(seller, ticketPath);
    browserErrors.watch(ticket);
    await watching(ticketSent, 'ticket', idOf(ticketPath));
    await expect(ticket.locator('.ticket-details .badge')).toHaveText('For sale');
    await expect(ticket.getByRole('link', { name: 'Edit', exact: true })).toBeVisible();

    // B reserves it: it leaves A's listing, and A's ticket page says it is reserved.
    const orderPath = await purchase(buyer, ticketPath);
    await expect(h1(buyer)).toHaveText('Your order');
    await expect(ticketCard(listing, title)).toHaveCount(0);
    await expect(ticket.locator('.ticket-details .badge')).toHaveText('Reserved');
    await expect(ticket.getByRole('link', { name: 'Edit', exact: true })).toHaveCount(0);

    // B cancels: it comes back on both.
    await expect(buyer).toHaveURL(pathIs(orderPath));
    await buyer.getByRole('button', { name: 'Cancel order', exact: true }).click();
    await expect(buyer.locator('.status.status-cancelled')).toHaveText('Cancelled');
    await expect(ticketCard(listing, title)).toBeVisible();
    await expect(ticket.locator('.ticket-details .badge')).toHaveText('For sale');
    await expect(ticket.getByRole('link', { name: 'Edit', exact: true })).toBeVisible();

    // A new listing by B shows up on A's search, and so does its new price.
    const second = `${tag} balcony`;
    const secondPath = await listTicket(buyer, second, '30');
    await expect(ticketCard(listing, second)).toBeVisible();
    await expect(ticketCard(listing, second).locator('.ticket-price')).toHaveText('$30.00');
    await buyer.getByRole('link', { name: 'Edit', exact: true }).click();
    await expect(buyer).toHaveURL(pathIs(`${secondPath}/edit`));
    await buyer.locator('input[name="price"]').fill('32.50');
    await buyer.getByRole('button', { name: 'Save changes', exact: true }).click();
    await expect(buyer).toHaveURL(pathIs(secondPath));
    await expect(ticketCard(listing, second).locator('.ticket-price')).toHaveText('$32.50');
    // The first ticket is still there, untouched.
    await expect(ticketCard(listing, title).locator('.ticket-price')).toHaveText('$25.00');

    await expectNotReloaded(listing);
    await expectNotReloaded(ticket);
    await seller.context().close();
    await buyer.context().close();
  });

  test('a ticket listed anywhere heads the open listing at once', async ({
    page: watcher,
    browser,
    browserErrors,
  }, testInfo) => {
    const sent = recordSent(watcher);
    await gotoHydrated(watcher, '/');
    await markDocument(watcher);
    await watching(sent, 'listing');
    const seller = await newUser(browser, testInfo, browserErrors);
    const title = `${uniqueTitle()} <b>bold</b> & "quoted"`;
    await listTicket(seller, title, '11');
    // The newest ticket: first on the first page, its title as text (markup stays text).
    await expect(watcher.locator('ul.ticket-list li.ticket-card').first()).toContainText(title);
    await expect(ticketCard(watcher, title).locator('.ticket-price')).toHaveText('$11.00');
    await expect(watcher.locator('ul.ticket-list b')).toHaveCount(0);
    await expectNotReloaded(watcher);
    await seller.context().close();
  });

  test('the buyer’s other tabs see the order complete, receipt and all, and the ticket sold', async ({
    browser,
    browserErrors,
  }, testInfo) => {
    test.setTimeout(120_000);
    const title = uniqueTitle();
    const seller = await newUser(browser, testInfo, browserErrors);
    const ticketPath = await listTicket(seller, title, '40');
    const buyer = await newUser(browser, testInfo, browserErrors);
    const orderPath = await purchase(buyer, ticketPath);

    const { tab: order, sent: orderSent } = await openTab(buyer, orderPath);
    browserErrors.watch(order);
    const { tab: orders, sent: ordersSent } = await openTab(buyer, '/orders');
    browserErrors.watch(orders);
    const { tab: sellerTicket, sent: sellerSent } = await openTab(seller, ticketPath);
    browserErrors.watch(sellerTicket);
    for (const sent of [orderSent, ordersSent]) {
      await expect.poll(() => sent.some((m) => m.type === 'watch')).toBe(true);
    }
    await watching(sellerSent, 'ticket', idOf(ticketPath));
    await expect(order.locator('.status.status-created')).toBeVisible();
    const row = orders.locator('table.table tbody tr').filter({ hasText: title });
    await expect(row.locator('.status')).toHaveText('Created');
    await expect(sellerTicket.locator('.ticket-details .badge')).toHaveText('Reserved');

    await buyer.getByRole('button', { name: 'Pay $40.00', exact: true }).click();
    await expect(buyer.locator('.status.status-complete')).toHaveText('Complete');

    await expect(order.locator('.status.status-complete')).toHaveText('Complete');
    const receipt = order.getByRole('region', { name: 'Receipt' });
    await expect(receipt.locator('.receipt-amount')).toHaveText('$40.00 USD');
    await expect(order.getByRole('button', { name: /^Pay / })).toHaveCount(0);
    await expect(row.locator('.status')).toHaveText('Complete');
    await expect(row.locator('.receipt-amount')).toHaveText('$40.00 USD');
    await expect(sellerTicket.locator('.ticket-details .badge')).toHaveText('Sold');

    for (const tab of [order, orders, sellerTicket]) await expectNotReloaded(tab);
    await seller.context().close();
    await buyer.context().close();
  });

  test('a dropped socket reconnects and the page catches up on what it missed', async ({
    browser,
    browserErrors,
  }, testInfo) => {
    test.setTimeout(120_000);
    const tag = uniqueTitle();
    const title = `${tag} gallery`;
    const seller = await newUser(browser, testInfo, browserErrors);
    const ticketPath = await listTicket(seller, title, '18');
    const buyer = await newUser(browser, testInfo, browserErrors);

    // The watcher's socket goes through a route the test can cut, and whose next
    // connection it can hold back until the change has happened.
    const watcher = await newUser(browser, testInfo, browserErrors);
    const connections: WebSocketRoute[] = [];
    let held: Promise<void> | undefined;
    await watcher.routeWebSocket(/\/live$/, async (ws) => {
      connections.push(ws);
      if (held) await held;
      ws.connectToServer();
    });
    const sent = recordSent(watcher);
    await expect(async () => {
      await gotoHydrated(watcher, `/?q=${encodeURIComponent(tag)}`);
      await expect(ticketCard(watcher, title)).toBeVisible({ timeout: 1_000 });
    }).toPass(EVENTUALLY);
    await markDocument(watcher);
    await watching(sent, 'listing');
    const first = connections.length;

    // Cut it, and hold the reconnection while the buyer reserves the ticket.
    let release = (): void => {};
    held = new Promise<void>((resolve) => {
      release = resolve;
    });
    await connections[first - 1].close({ code: 1012, reason: 'restarting' });
    await expect.poll(() => connections.length).toBeGreaterThan(first);
    await purchase(buyer, ticketPath);
    // Missed: the page still shows it, as nothing could tell it.
    await expect(ticketCard(watcher, title)).toBeVisible();

    release();
    await expect(ticketCard(watcher, title)).toHaveCount(0);
    // And it is live again: the buyer cancels, and the ticket comes back.
    await buyer.getByRole('button', { name: 'Cancel order', exact: true }).click();
    await expect(buyer.locator('.status.status-cancelled')).toHaveText('Cancelled');
    await expect(ticketCard(watcher, title)).toBeVisible();
    await expectNotReloaded(watcher);
    await Promise.all([seller, buyer, watcher].map((p) => p.context().close()));
  });
});
