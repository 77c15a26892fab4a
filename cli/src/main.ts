// nullops — NullOps from the terminal and from CI: log in once (or give NULLOPS_URL and
// NULLOPS_TOKEN), deploy with tags and wait for the URLs, follow logs, extend, clone, delete,
// import a docker-compose file. Human output by default, `--output json` for scripts.
import { readFile } from 'node:fs/promises';
import { Command, Option } from 'commander';
import { registerClone } from './commands/clone.js';
import { registerDeploy } from './commands/deploy.js';
import { registerExtend } from './commands/extend.js';
import { registerImport } from './commands/import.js';
import { registerLogin } from './commands/login.js';
import { registerLogs } from './commands/logs.js';
import { registerLs } from './commands/ls.js';
import { registerRebuild } from './commands/rebuild.js';
import { registerRm } from './commands/rm.js';
import { registerServiceActions } from './commands/service-actions.js';
import { registerStatus } from './commands/status.js';
import { UsageError } from './config.js';
import { type Output, setOutput } from './output.js';

/** This CLI's own version (its package.json, next to dist/ wherever it is installed). */
const { version } = JSON.parse(await readFile(new URL('../package.json', import.meta.url), 'utf8')) as {
  version: string;
};

const program = new Command('nullops')
  .description('NullOps from the terminal and from CI')
  .version(version, '-V, --version', 'the version of this CLI')
  .showHelpAfterError()
  // Commander has printed its own error (a missing option, an unknown command): a usage mistake,
  // exit 2 as documented (it would exit 1). Help and --version still exit 0. Subcommands inherit it.
  .exitOverride((err) => process.exit(err.exitCode === 0 ? 0 : 2))
  .addOption(new Option('-o, --output <format>', 'human or json').choices(['human', 'json']).default('human'))
  .hook('preAction', () => setOutput(program.opts().output as Output));

// In the order `nullops --help` lists them.
for (const register of [
  registerLogin,
  registerDeploy,
  registerLs,
  registerStatus,
  registerLogs,
  registerExtend,
  registerClone,
  registerRm,
  registerRebuild,
  registerServiceActions,
  registerImport,
])
  register(program);

program.parseAsync().catch((err: unknown) => {
  const message = err instanceof Error ? err.message : String(err);
  process.stderr.write(`nullops: ${message}\n`);
  process.exitCode = err instanceof UsageError ? 2 : 1;
});
