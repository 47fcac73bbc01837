// The one-time login link lands here. The code rides in the URL fragment so it never reaches a log;
// this script posts it and moves on to the settings page.
export const loginPageHtml = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Signing in · Gatehouse</title>
<style>body{font:16px/1.5 system-ui,sans-serif;display:grid;place-items:center;min-height:100vh;margin:0;background:#f6f7f9;color:#1c2430}main{background:#fff;padding:2rem 2.5rem;border-radius:12px;box-shadow:0 1px 3px #0002;max-width:28rem}</style>
</head><body><main><h1>Gatehouse</h1><p id="status" role="status">Signing you in…</p></main>
<script src="/login.js"></script></body></html>`;

export const loginScript = `(() => {
  const status = document.getElementById('status');
  const code = new URLSearchParams(location.hash.slice(1)).get('code');
  history.replaceState(null, '', '/login');
  if (!code) { status.textContent = 'This login link has no code. Get a new one with: npx gatehouse owner login-url'; return; }
  fetch('/login', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ code }), credentials: 'same-origin' })
    .then(async (res) => {
      const body = await res.json().catch(() => ({}));
      if (!res.ok) { status.textContent = body.message || 'Sign-in failed.'; return; }
      location.replace(body.redirect || '/settings/connections');
    })
    .catch(() => { status.textContent = 'The environment could not be reached.'; });
})();
`;
