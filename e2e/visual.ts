// What every page state gets (issue 17): a screenshot at 1280 px and at 390 px, and axe-core with
// no violation of any rule.
import AxeBuilder from '@axe-core/playwright';
import { expect, type Page } from '@playwright/test';

/** axe-core on the page as it is now: no violation of any rule. */
export async function expectNoAxeViolations(page: Page, state: string): Promise<void> {
  const result = await new AxeBuilder({ page }).analyze();
  expect(
    result.violations.map((v) => `${state}: ${v.id} (${v.impact}) ${v.nodes.length} nodes: ${v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join(' | ')}`),
  ).toEqual([]);
}

/** Screenshots `name-1280` and `name-390` (no sideways scrolling at 390 px), then restores the viewport. */
export async function atBothWidths(page: Page, shot: (page: Page, name: string) => Promise<void>, name: string): Promise<void> {
  await shot(page, `${name}-1280`);
  const size = page.viewportSize();
  await page.setViewportSize({ width: 390, height: 844 });
  // Nothing may widen the page past a phone's screen (a long secret or URL once did).
  expect(await page.evaluate(() => document.documentElement.scrollWidth), `${name}: page width at 390 px`).toBeLessThanOrEqual(390);
  await shot(page, `${name}-390`); // the shot fixture runs axe on each
  if (size) await page.setViewportSize(size);
}
