// What a Gatehouse client reports as its software in the client info it sends at connect (the
// owner's details view shows it). Kept here, not read from package.json, so the web bundle does not
// carry the package file; software.test.ts keeps the two in step.
export const GATEHOUSE_VERSION = '0.1.0';

export type GatehouseClientKind = 'cli' | 'web';

/** `gatehouse-cli/0.1.0`, `gatehouse-web/0.1.0`. */
export function gatehouseSoftware(kind: GatehouseClientKind): string {
  return `gatehouse-${kind}/${GATEHOUSE_VERSION}`;
}
