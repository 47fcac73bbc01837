import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ClientInfo, SOFTWARE_MAX } from './contracts';
import { GATEHOUSE_VERSION, gatehouseSoftware } from './software';

describe('client software', () => {
  it('the version clients report is the package version', () => {
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
    expect(GATEHOUSE_VERSION).toBe(pkg.version);
  });

  it('each client kind reports a string ClientInfo keeps as it is', () => {
    for (const kind of ['cli', 'web'] as const) {
      expect(ClientInfo.parse({ software: gatehouseSoftware(kind) }).software).toBe(gatehouseSoftware(kind));
    }
  });

  it('ClientInfo caps and normalizes software, refuses an oversized one, drops an empty one', () => {
    expect(ClientInfo.parse({ software: `  ${'v'.repeat(SOFTWARE_MAX + 10)}  ` }).software).toHaveLength(SOFTWARE_MAX);
    expect(ClientInfo.parse({ software: 'app\u200b/1.0' }).software).toBe('app/1.0');
    expect(ClientInfo.parse({ software: '   ' }).software).toBeUndefined();
    expect(ClientInfo.safeParse({ software: 'x'.repeat(SOFTWARE_MAX * 4 + 1) }).success).toBe(false);
    expect(ClientInfo.safeParse({ software: 42 }).success).toBe(false);
  });
});
