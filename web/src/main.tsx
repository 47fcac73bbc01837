import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { lazy, StrictMode, Suspense, useState } from 'react';
import { createRoot } from 'react-dom/client';
import { ToastProvider } from './components/toasts';
import { inviteFromUrl } from './device/invite-from-url';
import { createOwnerClient, trpc } from './trpc';

// Each page is its own chunk: a phone opening /device never loads the owner's settings code.
const ConnectionsPage = lazy(() => import('./connections/connections-page').then((m) => ({ default: m.ConnectionsPage })));
const DevicePage = lazy(() => import('./device/device-page').then((m) => ({ default: m.DevicePage })));

function OwnerApp() {
  const [queryClient] = useState(() => new QueryClient({ defaultOptions: { queries: { refetchOnWindowFocus: false, retry: 1 } } }));
  const [client] = useState(createOwnerClient);
  return (
    <trpc.Provider client={client} queryClient={queryClient}>
      <QueryClientProvider client={queryClient}>
        <ConnectionsPage client={client} />
      </QueryClientProvider>
    </trpc.Provider>
  );
}

const path = window.location.pathname.replace(/\/+$/, '') || '/';
if (path === '/') window.history.replaceState(null, '', '/settings/connections');
// An invite's secret leaves the address bar (and this history entry) before anything renders or loads:
// the device page's own code may take a while to arrive; the secret waits in memory meanwhile.
if (path === '/device') inviteFromUrl();

const container = document.getElementById('root');
if (!container) throw new Error('index.html has no #root');
createRoot(container).render(
  <StrictMode>
    <ToastProvider>
      <Suspense fallback={<p className="page-loading">Loading…</p>}>{path === '/device' ? <DevicePage /> : <OwnerApp />}</Suspense>
    </ToastProvider>
  </StrictMode>,
);
