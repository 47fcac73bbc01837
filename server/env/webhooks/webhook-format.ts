// The body each format gets (SPEC §14): plain JSON, or a Slack / Discord message. Device labels are
// the client's own text: escaped so it cannot mention anyone, forge a link or break the markup.
import type { WebhookFormat } from '../../../shared/contracts';
import type { WebhookEventBody } from './webhook-events';

/** The settings page row the event is about (owner login, and with a passkey a step-up, to act there). */
export function linkOf(publicUrl: string, body: WebhookEventBody): string {
  const client = body.data.client as { clientProofKeyThumbprint?: string } | undefined;
  const base = `${publicUrl.replace(/\/+$/, '')}/settings/connections`;
  return client?.clientProofKeyThumbprint ? `${base}#client-${client.clientProofKeyThumbprint}` : base;
}

interface ClientFacts {
  name?: string | null;
  label?: string | null;
  deviceType?: string;
  os?: string | null;
  verificationCode?: string;
}

function summaryOf(body: WebhookEventBody, text: (s: string) => string): string {
  const c = (body.data.client ?? {}) as ClientFacts;
  const title = text(c.name ?? c.label ?? 'A device');
  const facts = [c.deviceType, c.os].filter((f): f is string => !!f && f !== 'unknown').map(text).join(', ');
  const device = `${title}${facts ? ` (${facts})` : ''}`;
  switch (body.type) {
    case 'client.pending':
      return `${device} is waiting for your approval. Verification code: ${text(c.verificationCode ?? '?')}.`;
    case 'client.approved':
      return `${device} was approved.`;
    case 'client.rejected':
      return `${device} was rejected.`;
    case 'client.revoked':
      return `${device} was revoked.`;
    case 'mode.changed':
      return `Connect security mode changed from ${text(String(body.data.from ?? 'unknown'))} to ${text(String(body.data.to))}.`;
    case 'flood.detected':
      return 'Many new devices are asking to connect at once; Gatehouse is holding them back. Check the settings page.';
    case 'webhook.test':
      return 'Test message from Gatehouse: this webhook works.';
  }
}

const slackText = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const discordText = (s: string) => s.replace(/[\\`*_~|>#[\]()<@:-]/g, (ch) => `\\${ch}`);

/** The exact bytes signed and sent. */
export function renderWebhookBody(format: WebhookFormat, body: WebhookEventBody, publicUrl: string): string {
  const link = linkOf(publicUrl, body);
  if (format === 'slack') {
    const text = `${summaryOf(body, slackText)} <${slackText(link)}|Open in Gatehouse>`;
    return JSON.stringify({ text, blocks: [{ type: 'section', text: { type: 'mrkdwn', text } }] });
  }
  if (format === 'discord') {
    return JSON.stringify({ content: `${summaryOf(body, discordText)}\n${link}`, allowed_mentions: { parse: [] } });
  }
  return JSON.stringify({ ...body, link });
}
