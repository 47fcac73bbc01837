import { createReadStream, statSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { extname, join, normalize, sep } from 'node:path';
import { packagePath } from '../common/package-path';

export const defaultWebRoot = packagePath('dist', 'web');

const types: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json',
  '.woff2': 'font/woff2',
  '.map': 'application/json',
};

/** Routes of the single-page app: each answers with index.html. */
export const appRoutes = new Set(['/', '/settings/connections', '/device']);

function fileIn(root: string, pathname: string): string | null {
  let decoded: string;
  try {
    decoded = decodeURIComponent(pathname);
  } catch {
    return null;
  }
  if (decoded.includes('\0')) return null;
  const full = normalize(join(root, decoded));
  if (!full.startsWith(root.endsWith(sep) ? root : root + sep)) return null;
  try {
    return statSync(full).isFile() ? full : null;
  } catch {
    return null;
  }
}

/** Serves the built web app; returns false when the path is not one of its files or routes. */
export function serveWeb(root: string, req: IncomingMessage, res: ServerResponse, pathname: string, headers: Record<string, string>): boolean {
  if (req.method !== 'GET' && req.method !== 'HEAD') return false;
  const file = appRoutes.has(pathname) ? fileIn(root, '/index.html') : fileIn(root, pathname);
  if (!file) {
    if (!appRoutes.has(pathname)) return false;
    res.writeHead(503, { 'content-type': 'text/plain; charset=utf-8', ...headers });
    res.end('The web app is not built. Run `npm run build:web` (npm start does this for you).\n');
    return true;
  }
  const immutable = pathname.startsWith('/assets/');
  res.writeHead(200, {
    'content-type': types[extname(file)] ?? 'application/octet-stream',
    'cache-control': immutable ? 'public, max-age=31536000, immutable' : 'no-cache',
    ...headers,
  });
  if (req.method === 'HEAD') res.end();
  else createReadStream(file).pipe(res);
  return true;
}
