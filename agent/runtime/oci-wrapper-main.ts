// The wrapper runtime's entry point (the script agent/runtime/oci-wrapper.ts installs execs this).
import { errorMessage } from '../../shared/errors.js';
import { runWrapper } from './oci-wrapper.js';

try {
  process.exitCode = runWrapper(process.argv.slice(2));
} catch (e) {
  process.stderr.write(`tollgate oci wrapper: ${errorMessage(e)}\n`);
  process.exitCode = 1;
}
