#!/usr/bin/env node
// Thin launcher: the compiled agent lives in dist/ (built by scripts/setup.sh).
import '../dist/agent/main.js';
