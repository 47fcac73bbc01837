// The embedded issuer's pages: plain HTML, every value escaped, no script and no style (CSP-safe).

const escapeHtml = (value: string): string =>
  value.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

function page(title: string, body: string): string {
  return `<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><meta name="referrer" content="no-referrer"><title>${escapeHtml(title)}</title></head>
<body>
<main>
<h1>${escapeHtml(title)}</h1>
${body}
</main>
</body>
</html>`;
}

/** Any username signs in: there is no password (development only). `action` is our own path. */
export function loginPage(action: string, problem?: string): string {
  return page(
    'Sign in to Gatehouse (development)',
    `<p>This is the development account issuer: any username signs in, no password.</p>
${problem ? `<p role="alert">${escapeHtml(problem)}</p>` : ''}
<form method="post" action="${escapeHtml(action)}">
<label for="username">Username</label>
<input id="username" name="username" type="text" autocomplete="username" required pattern="[A-Za-z0-9._\\-]{1,64}" maxlength="64" autofocus>
<button type="submit">Sign in</button>
</form>`,
  );
}

/** `form` is the provider's own form markup (hidden xsrf field and the user_code input, values escaped by it). */
export function userCodePage(form: string, problem?: string): string {
  return page(
    'Sign in a device',
    `<p>Enter the code your device shows.</p>
${problem ? `<p role="alert">${escapeHtml(problem)}</p>` : ''}
${form.replace('<input\n', '<input aria-label="Code" ').replace(/\sonfocus="[^"]*"/, '')}
<button type="submit" form="op.deviceInputForm">Continue</button>`,
  );
}

export function confirmCodePage(form: string, userCode: string): string {
  return page(
    'Confirm the device',
    `<p>Sign in the device that shows this code:</p>
<p><code>${escapeHtml(userCode)}</code></p>
<p>If your device does not show this code, close this page.</p>
${form}
<button type="submit" form="op.deviceConfirmForm">Continue</button>
<button type="submit" form="op.deviceConfirmForm" name="abort" value="yes">Cancel</button>`,
  );
}

export function signedInPage(): string {
  return page('Signed in', '<p>Your device is signed in. You can close this page.</p>');
}

export function errorPage(out: Record<string, string>): string {
  const description = out.error_description ?? 'Something went wrong.';
  return page('Sign-in failed', `<p role="alert">${escapeHtml(description)}</p>${out.error ? `<p><code>${escapeHtml(out.error)}</code></p>` : ''}`);
}
