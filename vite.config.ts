// The web app (web/) is built into dist/web, which the environment serves on its own origin.
import react from '@vitejs/plugin-react';
import { defineConfig, type ProxyOptions } from 'vite';

// `vite` (dev mode) proxies the environment's endpoints, so the owner cookie and SSE stay same-origin:
// GATEHOUSE_ENV_URL=http://127.0.0.1:4100 npx vite
const envUrl = process.env.GATEHOUSE_ENV_URL ?? 'http://127.0.0.1:4100';

const toEnv: ProxyOptions = {
  target: envUrl,
  changeOrigin: true,
  configure(proxy) {
    // The env refuses owner changes from other origins. A request from the dev server's own pages
    // is same-origin in spirit, so it is presented as the env's origin; any other origin passes as is.
    proxy.on('proxyReq', (proxyReq, req) => {
      if (req.headers.origin && req.headers.origin === `http://${req.headers.host}`) proxyReq.setHeader('origin', new URL(envUrl).origin);
    });
  },
};

export default defineConfig({
  root: 'web',
  plugins: [react()],
  build: {
    outDir: '../dist/web',
    emptyOutDir: true,
    target: 'es2022',
  },
  server: {
    proxy: Object.fromEntries(['/trpc', '/api', '/login', '/login.js', '/oauth', '/healthz'].map((path) => [path, toEnv])),
  },
});
