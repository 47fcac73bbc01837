/** "Until I turn it off": a pause stored with the latest time ISO 8601 can say (SPEC §13). Zod-free for the page. */
export const LOCKDOWN_INDEFINITE = '9999-12-31T23:59:59.999Z';
