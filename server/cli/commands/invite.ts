// `gatehouse connect invite create|list|revoke` (SPEC §13): pre-approved pairing of one device.
import QRCode from 'qrcode';
import { EXIT } from '../options';
import type { Output } from '../output';
import { spell } from '../duration';
import { printable } from './security-format';
import { openSecurityTarget, DIRECT_READ_NOTE, DIRECT_WRITE_NOTE } from './security-target';

export async function runInviteCreate(out: Output, opts: { dataDir: string; label?: string; expiresInSeconds: number }): Promise<number> {
  const target = await openSecurityTarget(opts.dataDir);
  try {
    const invite = await target.createInvite({ ...(opts.label !== undefined && { label: opts.label }), expiresInSeconds: opts.expiresInSeconds });
    if (target.via === 'database') out.note(DIRECT_WRITE_NOTE);
    out.data(invite);
    out.line(`Invite ${invite.inviteId}${opts.label ? ` (${printable(opts.label)})` : ''}: one device, until ${invite.expiresAt} (${spell(opts.expiresInSeconds)}).`);
    out.line('Open this on the device, or scan the code. It is shown only now:');
    out.line('');
    out.line(invite.url);
    out.line('');
    out.line((await QRCode.toString(invite.url, { type: 'terminal', small: true, errorCorrectionLevel: 'L' })).trimEnd());
    out.line(`From another machine's command line: gatehouse client connect --invite '${invite.url}'`);
    return EXIT.ok;
  } finally {
    target.close();
  }
}

export async function runInviteList(out: Output, opts: { dataDir: string }): Promise<number> {
  const target = await openSecurityTarget(opts.dataDir);
  try {
    const invites = await target.listInvites();
    if (target.via === 'database') out.note(DIRECT_READ_NOTE);
    out.data({ invites });
    if (invites.length === 0) out.line('No open invites. Create one with `gatehouse connect invite create --label "for the kitchen"`.');
    for (const i of invites) out.line(`${i.inviteId}  ${printable(i.label ?? '(no label)')}  until ${i.expiresAt}`);
    return EXIT.ok;
  } finally {
    target.close();
  }
}

export async function runInviteRevoke(out: Output, opts: { dataDir: string; inviteId: string }): Promise<number> {
  const target = await openSecurityTarget(opts.dataDir);
  try {
    const result = await target.revokeInvite(opts.inviteId);
    if (target.via === 'database') out.note(DIRECT_WRITE_NOTE);
    out.data(result);
    out.line(`Revoked invite ${opts.inviteId}: it can no longer be used.`);
    return EXIT.ok;
  } finally {
    target.close();
  }
}
