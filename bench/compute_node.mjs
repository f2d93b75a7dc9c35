// Runs a WASI command under Node.js's node:wasi, for compute_bench (the reference that runs the
// same .wasm the engine runs):
//   node --no-warnings bench/compute_node.mjs <module.wasm> [args...]
// argv[0] is the module's file name, then the args; the environment is empty, like the engine's
// default. The program's stdout goes to this process's stdout; its exit status becomes ours.
import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { WASI } from 'node:wasi';

const [path, ...args] = process.argv.slice(2);
if (path === undefined) {
  console.error('usage: node compute_node.mjs <module.wasm> [args...]');
  process.exit(2);
}
const wasi = new WASI({
  version: 'preview1',
  args: [basename(path), ...args],
  env: {},
  returnOnExit: true,
});
const module = await WebAssembly.compile(await readFile(path));
const instance = await WebAssembly.instantiate(module, {
  wasi_snapshot_preview1: wasi.wasiImport,
});
process.exitCode = wasi.start(instance);
