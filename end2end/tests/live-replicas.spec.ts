import { type CDPSession, type Page } from '@playwright/test';
import {
  EVENTUALLY,
  expect,
  gotoHydrated,
  h1,
  listTicket,
  newUser,
  purchase,
  test,
  ticketCard,
  uniqueTitle,
} from './fixtures';

/**
 * The live channel through nginx with two web replicas (the cluster run only:
 * `cargo xtask e2e --cluster live-replicas`). The cluster's nginx names the replica that
 * answered each request, WebSocket upgrades included, in this header; the all-in-one run
 * has one process and no such header, so the spec is skipped there.
 */
const UPSTREAM_HEADER = process.env.UPSTREAM_HEADER?.toLowerCase();

/** The live channel's path (common::live::PATH). */
const LIVE_PATH = '/live';

/** How many full loads a page gets to land its socket on the replica asked for. */
const ATTEMPTS = 8;

/**
 * The live sockets a page opened, seen through the DevTools protocol (Playwright's own
 * WebSocket events carry no response headers): which replica each upgrade reached, and
 * whether the page has sent its `watch` on it yet.
 */
class Sockets {
  private readonly urls = new Map<string, string>();
  readonly opened: { id: string; replica: string }[] = [];
  private readonly watching = new Set<string>();

  private constructor(cdp: CDPSession) {
    cdp.on('Network.webSocketCreated', ({ requestId, url }) => {
      this.urls.set(requestId, url);
    });
    cdp.on('Network.webSocketHandshakeResponseReceived', ({ requestId, response }) => {
      const url = this.urls.get(requestId);
      if (!url || new URL(url).pathname !== LIVE_PATH || response.status !== 101) return;
      const header = Object.entries(response.headers).find(
        ([name]) => name.toLowerCase() === UPSTREAM_HEADER,
      );
      this.opened.push({ id: requestId, replica: header ? String(header[1]) : '' });
    });
    cdp.on('Network.webSocketFrameSent', ({ requestId, response }) => {
      if (/"type"\s*:\s*"watch"/.test(response.payloadData)) this.watching.add(requestId);
    });
  }

  static async of(page: Page): Promise<Sockets> {
    const cdp = await page.context().newCDPSession(page);
    await cdp.send('Network.enable');
    return new Sockets(cdp);
  }

  /** Waits for the first socket opened after `count` were, and for its `watch`: its replica. */
  async next(count: number): Promise<string> {
    await expect
      .poll(() => this.opened.length > count, { message: `a ${LIVE_PATH} socket opens` })
      .toBe(true);
    const socket = this.opened[count];
    expect(socket.replica, `the upgrade's answer names its replica (${UPSTREAM_HEADER})`).not.toBe(
      '',
    );
    await expect
      .poll(() => this.watching.has(socket.id), { message: 'the page says what it watches' })
      .toBe(true);
    return socket.replica;
  }
}

/**
 * Loads `path` in `page` until its live socket is on a replica other than `avoid` (any
 * replica when none). The cluster's nginx has one worker that round-robins; a load makes
 * some number of requests before the upgrade, so between tries 1, 2, 3… requests move the
 * turn by an odd then an even count, and the upgrade's turn changes within two tries
 * whatever that number is. Returns the replica.
 */
async function openLive(page: Page, sockets: Sockets, path: string, avoid?: string): Promise<string> {
  for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
    const count = sockets.opened.length;
    await gotoHydrated(page, path);
    const replica = await sockets.next(count);
    if (replica !== avoid) return replica;
    for (let i = 0; i <= attempt; i++) await page.request.get('/healthz');
  }
  throw new Error(`${ATTEMPTS} loads of ${path} all put the socket on ${avoid}`);
}

test.describe('live pages through nginx with two web replicas', () => {
  test.skip(!UPSTREAM_HEADER, 'needs the cluster gateway (cargo xtask e2e --cluster)');

  test('a reservation made through one replica shows on a page served by the other', async ({
    browser,
    browserErrors,
  }, testInfo) => {
    test.setTimeout(180_000);

    // Two visitors on a search for this test's tickets, their sockets on different replicas.
    const tag = uniqueTitle();
    const title = `${tag} stalls`;
    const search = `/?q=${encodeURIComponent(tag)}`;
    const watchers: { page: Page; replica: string }[] = [];
    for (let i = 0; i < 2; i++) {
      const context = await browser.newContext({ baseURL: testInfo.project.use.baseURL });
      const page = await context.newPage();
      browserErrors.watch(page);
      const sockets = await Sockets.of(page);
      const replica = await openLive(page, sockets, search, watchers[0]?.replica);
      // Gone if the page is ever reloaded.
      await page.evaluate(() => Object.assign(window, { loadedOnce: true }));
      watchers.push({ page, replica });
    }
    expect(watchers[0].replica).not.toEqual(watchers[1].replica);

    // A new listing appears on both, without a reload.
    const seller = await newUser(browser, testInfo, browserErrors);
    const ticketPath = await listTicket(seller, title, '31.00');
    for (const { page } of watchers) {
      await expect(ticketCard(page, title)).toHaveCount(1, EVENTUALLY);
    }

    // A buyer reserves it: the server function's request goes through one replica, and
    // the page whose socket is on the other one drops the ticket too.
    const buyer = await newUser(browser, testInfo, browserErrors);
    const reservedThrough: string[] = [];
    buyer.on('response', (response) => {
      // The reservation's server function (app::functions::create_order); an early try the
      // orders service refused (it had not heard of the ticket yet) does not count.
      const path = new URL(response.url()).pathname;
      if (path === '/_fn/create_order' && response.status() < 400) {
        reservedThrough.push(response.headers()[UPSTREAM_HEADER!] ?? '');
      }
    });
    await purchase(buyer, ticketPath);
    await expect(h1(buyer)).toHaveText('Your order');
    const reservation = reservedThrough.at(-1) ?? '';
    expect(
      watchers.map((w) => w.replica),
      `the reservation went through a replica of the two (${reservation})`,
    ).toContain(reservation);
    const other = watchers.find((w) => w.replica !== reservation)!;
    await expect(ticketCard(other.page, title)).toHaveCount(0, EVENTUALLY);
    for (const { page } of watchers) {
      await expect(ticketCard(page, title)).toHaveCount(0, EVENTUALLY);
    }

    // Cancelled, it comes back on both.
    await buyer.getByRole('button', { name: 'Cancel order', exact: true }).click();
    for (const { page } of watchers) {
      await expect(ticketCard(page, title)).toHaveCount(1, EVENTUALLY);
    }

    // None of it took a reload.
    for (const { page } of watchers) {
      expect(await page.evaluate(() => 'loadedOnce' in window), 'updated in place').toBe(true);
      await page.context().close();
    }
    await seller.context().close();
    await buyer.context().close();
  });
});
