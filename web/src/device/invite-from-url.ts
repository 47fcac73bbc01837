// An invite in the /device page's URL fragment (SPEC §13): read once, as the page starts (main.tsx),
// then removed from the address bar and history so the secret is not left on screen or in a shared
// link. It stays in this module's memory for the page's life; the sign-in round trip carries it on.
import { readInviteFragment, type InviteSecret } from '../../../shared/invite';

let taken: InviteSecret | null | undefined;

/** The invite this page was opened with, or undefined; the fragment is cleared on first read. */
export function inviteFromUrl(): InviteSecret | undefined {
  if (taken === undefined) {
    const found = typeof location === 'undefined' ? null : readInviteFragment(location.hash);
    taken = found ? { inviteId: found.inviteId, secret: found.secret } : null;
    if (found) history.replaceState(history.state, '', location.pathname + location.search);
  }
  return taken ?? undefined;
}
