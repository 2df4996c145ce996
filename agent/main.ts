import { buildProgram } from './cli/program.js';

// The `agent` command (bin/agent.js imports the compiled form of this file).
await buildProgram().parseAsync(process.argv);
