import { defineConfig, devices } from '@playwright/test';

/**
 * End-to-end tests for Ticketing.
 *
 * The server is NOT started from here: the Rust xtask builds and starts it,
 * then runs `npx playwright test` with BASE_URL pointing at it.
 *
 * Browsers are never downloaded: we drive the system Chromium
 * (CHROMIUM_PATH, default /usr/bin/chromium).
 */
const baseURL = process.env.BASE_URL || 'http://127.0.0.1:3000';
const executablePath = process.env.CHROMIUM_PATH || '/usr/bin/chromium';

export default defineConfig({
  testDir: 'tests',
  fullyParallel: false,
  forbidOnly: !!process.env.CI,
  workers: 1,
  retries: 0,
  reporter: 'list',
  timeout: 30_000,
  expect: { timeout: 10_000 },
  use: {
    baseURL,
    headless: true,
    trace: 'retain-on-failure',
    screenshot: 'only-on-failure',
    actionTimeout: 10_000,
    navigationTimeout: 15_000,
  },
  projects: [
    {
      name: 'chromium',
      use: {
        ...devices['Desktop Chrome'],
        launchOptions: {
          executablePath,
          args: [
            '--headless',
            '--no-sandbox',
            '--disable-gpu',
            '--disable-quic',
            '--no-first-run',
            '--disable-background-networking',
            '--disable-component-update',
            '--disable-sync',
          ],
        },
      },
    },
  ],
});
