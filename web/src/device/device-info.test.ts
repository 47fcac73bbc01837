import { describe, expect, it } from 'vitest';
import { describeBrowser, type BrowserFacts } from './device-info';

const desktop: BrowserFacts = {
  userAgent: 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/156.0.0.0 Safari/537.36',
  maxTouchPoints: 0,
  coarsePointer: false,
  screenWidth: 1280,
  screenHeight: 800,
};

describe('describeBrowser', () => {
  it('a desktop Chrome on Linux', () => {
    expect(describeBrowser(desktop)).toEqual({ deviceType: 'desktop', label: 'Chrome on Linux', os: 'Linux' });
  });

  it('an Android phone', () => {
    const pixel = {
      ...desktop,
      userAgent: 'Mozilla/5.0 (Linux; Android 14; Pixel 7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Mobile Safari/537.36',
      maxTouchPoints: 5,
      coarsePointer: true,
      screenWidth: 412,
      screenHeight: 915,
    };
    expect(describeBrowser(pixel)).toEqual({ deviceType: 'mobile', label: 'Chrome on Android', os: 'Android' });
  });

  it('a phone-sized touch browser with a desktop user agent is still mobile', () => {
    expect(describeBrowser({ ...desktop, maxTouchPoints: 1, screenWidth: 390, screenHeight: 844 }).deviceType).toBe('mobile');
  });

  it('a small desktop window without touch stays desktop', () => {
    expect(describeBrowser({ ...desktop, screenWidth: 390, screenHeight: 844 }).deviceType).toBe('desktop');
  });

  it('an iPhone, an iPad asking for the desktop site, and an Android tablet', () => {
    const iphone = 'Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.0 Mobile/15E148 Safari/604.1';
    expect(describeBrowser({ ...desktop, userAgent: iphone, maxTouchPoints: 5, screenWidth: 390, screenHeight: 844 })).toEqual({
      deviceType: 'mobile',
      label: 'Safari on iOS',
      os: 'iOS',
    });
    const ipad = 'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.0 Safari/605.1.15';
    expect(describeBrowser({ ...desktop, userAgent: ipad, maxTouchPoints: 5, coarsePointer: true, screenWidth: 820, screenHeight: 1180 })).toMatchObject({ deviceType: 'tablet', os: 'iPadOS' });
    const tab = 'Mozilla/5.0 (Linux; Android 14; SM-X710) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36';
    expect(describeBrowser({ ...desktop, userAgent: tab, maxTouchPoints: 5, coarsePointer: true })).toMatchObject({ deviceType: 'tablet', os: 'Android' });
  });

  it('a Mac, Windows with Edge, and Firefox', () => {
    expect(describeBrowser({ ...desktop, userAgent: 'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.0 Safari/605.1.15' })).toEqual({
      deviceType: 'desktop',
      label: 'Safari on macOS',
      os: 'macOS',
    });
    expect(
      describeBrowser({ ...desktop, userAgent: 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36 Edg/156.0.0.0' }).label,
    ).toBe('Edge on Windows');
    expect(describeBrowser({ ...desktop, userAgent: 'Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0' }).label).toBe('Firefox on Linux');
  });
});
