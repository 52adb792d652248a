import { reportError } from '../../common/errors.js';
import { main } from './netns-entry.js';

// The script the plugin starts inside the pod's network namespace (see netns-entry.ts).
main(process.argv.slice(2)).then(
  (code) => (process.exitCode = code),
  (err: unknown) => (process.exitCode = reportError(err)),
);
