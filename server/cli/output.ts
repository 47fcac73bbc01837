/** Where commands print: human lines, or one JSON document with --json. */
export interface Output {
  json: boolean;
  line(text?: string): void;
  data(value: unknown): void;
  /** Progress and hints: stderr, so --json output stays parseable. */
  note(text: string): void;
}

export function createOutput(json: boolean, out = process.stdout, err = process.stderr): Output {
  return {
    json,
    line: (text = '') => void (json || out.write(`${text}\n`)),
    data: (value) => void (json && out.write(`${JSON.stringify(value)}\n`)),
    note: (text) => void err.write(`${text}\n`),
  };
}
