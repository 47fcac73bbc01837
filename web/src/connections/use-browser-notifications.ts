// Opt-in browser notifications when a new client asks. The choice is remembered per browser.
import { useCallback, useState } from 'react';
import type { ConnectClient } from '../trpc';
import { clientTitle } from './access-state';

const STORAGE_KEY = 'gatehouse.notifyNewClients';

export type NotificationChoice = 'unsupported' | 'off' | 'on' | 'blocked';

function currentChoice(): NotificationChoice {
  if (typeof Notification === 'undefined') return 'unsupported';
  if (Notification.permission === 'denied') return 'blocked';
  return Notification.permission === 'granted' && localStorage.getItem(STORAGE_KEY) === 'on' ? 'on' : 'off';
}

export function useBrowserNotifications() {
  const [choice, setChoice] = useState<NotificationChoice>(currentChoice);

  const toggle = useCallback(async () => {
    if (choice === 'on') {
      localStorage.removeItem(STORAGE_KEY);
      setChoice('off');
      return;
    }
    if (typeof Notification === 'undefined') return;
    const permission = Notification.permission === 'granted' ? 'granted' : await Notification.requestPermission();
    if (permission === 'granted') localStorage.setItem(STORAGE_KEY, 'on');
    setChoice(currentChoice());
  }, [choice]);

  const announce = useCallback((clients: ConnectClient[]) => {
    if (currentChoice() !== 'on') return;
    for (const client of clients) {
      try {
        // The tag folds repeated asks of one device into one notification.
        new Notification('A device wants to connect', {
          body: `${clientTitle(client)} · verification code ${client.verificationCode}`,
          tag: `gatehouse-client-${client.clientProofKeyThumbprint}`,
        });
      } catch {
        // Some mobile browsers only notify from a service worker; the badge and the list still show it.
      }
    }
  }, []);

  return { choice, toggle, announce };
}
