// Tests only: a person at a browser, played with fetch. Follows redirects, keeps cookies, fills the
// provider's forms (a username at a login page, a user code at a device page) and presses Continue
// (or Cancel, when asked).

export interface FormDriver {
  /** Follows the page at `url` through every form until a redirect leaves the provider, or a page with no form. */
  run(url: string | URL, answers: { username?: string; userCode?: string; cancel?: boolean }, stopAt?: (url: URL) => boolean): Promise<{ url: URL; html: string }>;
}

export function browserDriver(): FormDriver {
  const cookies = new Map<string, { value: string; path: string }>();
  const request = async (url: URL, init: RequestInit = {}): Promise<Response> => {
    const header = [...cookies]
      .filter(([, c]) => url.pathname.startsWith(c.path))
      .map(([name, c]) => `${name}=${c.value}`)
      .join('; ');
    const res = await fetch(url, { ...init, redirect: 'manual', headers: { ...(header ? { cookie: header } : {}), ...init.headers } });
    for (const line of res.headers.getSetCookie()) {
      const [pair = '', ...attributes] = line.split(';').map((part) => part.trim());
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq);
      const value = pair.slice(eq + 1);
      const path = attributes.find((a) => a.toLowerCase().startsWith('path='))?.slice(5) ?? '/';
      const expires = attributes.find((a) => a.toLowerCase().startsWith('expires='));
      if (!value || (expires !== undefined && Date.parse(expires.slice(8)) <= Date.now())) cookies.delete(name);
      else cookies.set(name, { value, path });
    }
    return res;
  };
  return {
    async run(start, answers, stopAt = () => false) {
      let url = new URL(start);
      let init: RequestInit = {};
      let cancelled = false;
      for (let step = 0; step < 20; step++) {
        if (stopAt(url)) return { url, html: '' };
        const res = await request(url, init);
        init = {};
        if (res.status >= 300 && res.status < 400) {
          url = new URL(res.headers.get('location') ?? '', url);
          continue;
        }
        const html = await res.text();
        const form = /<form([^>]*)>([\s\S]*?)<\/form>/.exec(html);
        if (!form || cancelled) return { url, html };
        const action = /action="([^"]+)"/.exec(form[1]!)?.[1]?.replaceAll('&amp;', '&') ?? url.pathname;
        const fields = new URLSearchParams();
        for (const input of form[2]!.matchAll(/<input([^>]*)>/g)) {
          const name = /name="([^"]+)"/.exec(input[1]!)?.[1];
          if (!name) continue;
          const value = /value="([^"]*)"/.exec(input[1]!)?.[1]?.replaceAll('&amp;', '&');
          if (name === 'username' || name === 'login') fields.set(name, answers.username ?? '');
          else if (name === 'password') fields.set(name, 'any');
          else if (name === 'user_code' && value === undefined) fields.set(name, answers.userCode ?? '');
          else fields.set(name, value ?? '');
        }
        // A Cancel button (the device confirm page's `abort`) is pressed instead of Continue when asked.
        if (answers.cancel && /name="abort"/.test(html)) {
          fields.set('abort', 'yes');
          cancelled = true;
        }
        url = new URL(action, url);
        init = { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: fields.toString() };
      }
      throw new Error('the sign-in went on for more than 20 pages');
    },
  };
}
