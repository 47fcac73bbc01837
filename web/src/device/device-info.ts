// How this browser describes itself to the owner: label, device type and OS (all unauthenticated
// hints; the verification code is what the owner actually checks).
import type { ClientInfo } from '../../../shared/contracts';

export interface BrowserFacts {
  userAgent: string;
  /** `navigator.userAgentData.mobile` where the browser has it. */
  uaMobile?: boolean;
  maxTouchPoints: number;
  coarsePointer: boolean;
  screenWidth: number;
  screenHeight: number;
}

function osOf(ua: string, touch: boolean): string | undefined {
  if (/Android/i.test(ua)) return 'Android';
  if (/iPhone|iPod/.test(ua)) return 'iOS';
  if (/iPad/.test(ua)) return 'iPadOS';
  // iPads ask for desktop sites with a Mac user agent; only the touch screen gives them away.
  if (/Macintosh|Mac OS X/.test(ua)) return touch ? 'iPadOS' : 'macOS';
  if (/Windows/.test(ua)) return 'Windows';
  if (/CrOS/.test(ua)) return 'ChromeOS';
  if (/Linux|X11/.test(ua)) return 'Linux';
  return undefined;
}

function browserOf(ua: string): string | undefined {
  if (/Edg(A|iOS)?\//.test(ua)) return 'Edge';
  if (/OPR\//.test(ua)) return 'Opera';
  if (/Firefox\/|FxiOS/.test(ua)) return 'Firefox';
  if (/SamsungBrowser\//.test(ua)) return 'Samsung Internet';
  if (/Chrome\/|CriOS\/|Chromium\//.test(ua)) return 'Chrome';
  if (/Safari\//.test(ua)) return 'Safari';
  return undefined;
}

export function describeBrowser(facts: BrowserFacts): Required<Pick<ClientInfo, 'deviceType'>> & Pick<ClientInfo, 'label' | 'os'> {
  const ua = facts.userAgent;
  const touch = facts.maxTouchPoints > 0 || facts.coarsePointer;
  const shortSide = Math.min(facts.screenWidth, facts.screenHeight);
  const os = osOf(ua, touch);
  let deviceType: 'desktop' | 'mobile' | 'tablet' | 'bot';
  if (/bot|crawler|spider|slurp/i.test(ua)) deviceType = 'bot';
  else if (facts.uaMobile === true || /iPhone|iPod|Android.*Mobile|Mobile.*Firefox|Windows Phone/i.test(ua)) deviceType = 'mobile';
  else if (os === 'iPadOS' || /Android/i.test(ua) || /Tablet/i.test(ua)) deviceType = 'tablet';
  // A touch-first browser on a phone-sized screen is a phone, whatever its user agent says.
  else if (touch && shortSide > 0 && shortSide < 600) deviceType = 'mobile';
  else if (touch && facts.coarsePointer && shortSide >= 600 && shortSide < 1100) deviceType = 'tablet';
  else deviceType = 'desktop';
  const browser = browserOf(ua);
  const label = browser && os ? `${browser} on ${os}` : (browser ?? os);
  return { deviceType, ...(label && { label }), ...(os && { os }) };
}

/** The facts of the browser this runs in. */
export function currentBrowserFacts(): BrowserFacts {
  const nav = navigator as Navigator & { userAgentData?: { mobile?: boolean } };
  return {
    userAgent: nav.userAgent,
    ...(typeof nav.userAgentData?.mobile === 'boolean' && { uaMobile: nav.userAgentData.mobile }),
    maxTouchPoints: nav.maxTouchPoints ?? 0,
    coarsePointer: window.matchMedia?.('(pointer: coarse)').matches ?? false,
    screenWidth: window.screen?.width ?? window.innerWidth,
    screenHeight: window.screen?.height ?? window.innerHeight,
  };
}
