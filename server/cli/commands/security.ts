// `gatehouse connect security …` arrives with the CLI issue; until then the tRPC API does this.
import type { Command } from 'commander';

export function registerSecurityCommands(_connect: Command, _common: (cmd: Command) => Command, _run: (code: Promise<number>) => void): void {}
