import type { ReactNode } from 'react';
import { ToastRegion } from './toasts';

export type Page = 'connections' | 'device';

function Logo() {
  return (
    <svg className="logo" viewBox="0 0 32 32" aria-hidden="true">
      <rect width="32" height="32" rx="8" fill="currentColor" />
      <path d="M9 24V13l7-5 7 5v11h-4.5v-6h-5v6z" fill="#fff" />
    </svg>
  );
}

/**
 * Header, navigation and the page's main landmark. `ownerPages: false` (the device page on the
 * environment's origin at the relay, which serves no owner page) leaves the owner's links out.
 */
export function AppShell({ page, pendingCount, ownerPages = true, children }: { page: Page; pendingCount?: number; ownerPages?: boolean; children: ReactNode }) {
  return (
    <div className="shell">
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      <header className="topbar">
        <a className="brand" href={ownerPages ? '/settings/connections' : '/device'}>
          <Logo />
          <span>Gatehouse</span>
        </a>
        <nav aria-label="Main">
          {ownerPages && (
            <a href="/settings/connections" aria-current={page === 'connections' ? 'page' : undefined}>
              Connections
              {pendingCount ? (
                <span className="badge" aria-label={`${pendingCount} pending`}>
                  {pendingCount}
                </span>
              ) : null}
            </a>
          )}
          <a href="/device" aria-current={page === 'device' ? 'page' : undefined}>
            This device
          </a>
        </nav>
      </header>
      <main className="content" id="main" tabIndex={-1}>
        <ToastRegion />
        {children}
      </main>
    </div>
  );
}
