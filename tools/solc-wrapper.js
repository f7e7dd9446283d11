#!/usr/bin/env node
// A `solc` command line that foundry-compilers accepts, backed by the solc-js (WASM) package.
//
// foundry-compilers runs two commands:
//   solc --version                     -> it reads the last line and strips "Version: "
//   solc [--allow-paths P] [--base-path B] [--include-path I]... --standard-json   (JSON on stdin)
// solcjs itself rejects --allow-paths and prints an SMT notice before its JSON, so this wrapper calls
// the module's compile() and prints only the JSON output.
'use strict';

const fs = require('fs');
const path = require('path');

const modulePath = process.env.HRM_SOLC_MODULE || 'solc';
const solc = require(modulePath);

function optionValues(args, name) {
  const values = [];
  for (let i = 0; i < args.length; i++) {
    if (args[i] === name && i + 1 < args.length) values.push(args[++i]);
    else if (args[i].startsWith(name + '=')) values.push(args[i].slice(name.length + 1));
  }
  return values;
}

function main(args) {
  if (args.includes('--version')) {
    process.stdout.write('solc, the solidity compiler commandline interface\n');
    process.stdout.write('Version: ' + solc.version() + '\n');
    return 0;
  }
  if (!args.includes('--standard-json')) {
    process.stderr.write('this solc wrapper supports only --version and --standard-json\n');
    return 2;
  }
  const basePath = optionValues(args, '--base-path')[0] || process.cwd();
  const roots = [basePath, ...optionValues(args, '--include-path')].map((p) => path.resolve(p));
  const allowed = [
    ...roots,
    ...optionValues(args, '--allow-paths').flatMap((p) => p.split(',')).filter(Boolean).map((p) => path.resolve(p)),
  ];

  // Imports resolve against the base and include paths, and only inside allowed folders, as solc does.
  function findImports(importPath) {
    for (const root of roots) {
      const candidate = path.resolve(root, importPath);
      if (!allowed.some((dir) => candidate === dir || candidate.startsWith(dir + path.sep))) continue;
      if (fs.existsSync(candidate)) return { contents: fs.readFileSync(candidate, 'utf8') };
    }
    return { error: 'File not found inside the allowed paths: ' + importPath };
  }

  const input = fs.readFileSync(0, 'utf8');
  process.stdout.write(solc.compile(input, { import: findImports }));
  return 0;
}

process.exitCode = main(process.argv.slice(2));
