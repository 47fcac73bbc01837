// The one-time login link lands here. The code rides in the URL fragment so it never reaches a log;
// this script posts it and moves on to the settings page. When the link does not work, the page
// says why and which command makes a new one (as code, not as raw backticks), and links back.
export const loginPageHtml = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Signing in · Gatehouse</title>
<style>body{font:16px/1.5 system-ui,sans-serif;display:grid;place-items:center;min-height:100vh;margin:0;background:#f6f7f9;color:#1c2430}main{background:#fff;padding:2rem 2.5rem;border-radius:12px;box-shadow:0 1px 3px #0002;max-width:28rem}code{font:0.9em ui-monospace,monospace;background:#eef0f3;padding:0.1em 0.3em;border-radius:4px}a{color:#1b4fb8}@media (prefers-color-scheme:dark){body{background:#12161c;color:#e6e9ee}main{background:#1c222b}code{background:#2a313c}a{color:#8fb4ff}}</style>
</head><body><main><h1>Gatehouse</h1><p id="status" role="status">Signing you in…</p>
<p id="help" hidden><a href="/settings/connections">Back to the settings page</a></p></main>
<script src="/login.js"></script></body></html>`;

export const loginScript = `(() => {
  const status = document.getElementById('status');
  const help = document.getElementById('help');
  // Messages mark commands with backticks (they are shared with the CLI): show those as code.
  const say = (message) => {
    status.replaceChildren(...String(message).split('\`').map((part, i) => {
      if (i % 2 === 0) return document.createTextNode(part);
      const code = document.createElement('code');
      code.textContent = part;
      return code;
    }));
    help.hidden = false;
  };
  const signIn = () => {
    const code = new URLSearchParams(location.hash.slice(1)).get('code');
    history.replaceState(null, '', '/login');
    if (!code) return say('No login code here. Sign in with a passkey on the settings page, or get a new link with \`npx gatehouse owner login-url\` on the machine that runs the environment.');
    status.textContent = 'Signing you in…';
    fetch('/login', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ code }), credentials: 'same-origin' })
      .then(async (res) => {
        const body = await res.json().catch(() => ({}));
        if (!res.ok) return say(body.message || 'Sign-in failed.');
        location.replace(body.redirect || '/settings/connections');
      })
      .catch(() => say('The environment could not be reached. Is it still running?'));
  };
  // A new link opened in this tab differs only in its fragment: the browser does not load the page again.
  window.addEventListener('hashchange', signIn);
  signIn();
})();
`;
